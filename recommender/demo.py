"""A seeded demo shop whose truth is known.

In: a seed and a number of receipts. Out: three files in a folder --
``catalog.csv`` (about 170 SKUs in apparel, pharmacy and grocery, with English and
Chinese names), ``receipts.csv`` (one row per receipt line, a year in 12 stores)
and ``ground_truth.json`` (everything that was planted, with exact counts).

What is planted, so that every later stage can be checked against it:

* associations at subcategory level (business shirt -> tie, business shirt ->
  business trousers, calcium -> vitamin D + cod-liver oil, cold remedy ->
  vitamin C), each firing with a known probability when the antecedent is in
  the basket;
* a family medicine kit (stomach, heat-clearing, cold remedy, dewormer) bought
  together only in June-August;
* substitute pairs (two brands of one subcategory, almost never together);
* a bundle launch on 2025-08-01 in half of the stores (five bundles, about
  +10% on the average ticket). Every receipt is simulated without and with the
  promotion from the same random draws, so the true effect on the average
  ticket is known exactly, not estimated. The shop is designed so that a
  store-level difference-in-differences can measure it: stores differ in level
  (basket size, a little in department mix) and share the trend and the season,
  which differencing removes, and a five-month post period against seven
  months before keeps each store's sampling noise well under the effect;
* a little dirt (cancelled receipts, return lines, duplicate lines, lines with
  no SKU), counted exactly. No dirt touches the post-launch receipts of test
  stores, so their ticket value does not depend on how a loader treats dirt.

Everything is vectorised numpy: 50,000 receipts take about two seconds. The same
seed gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

#: Where the demo shop lives in the repository.
DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"
FILES = {"catalog": "catalog.csv", "receipts": "receipts.csv", "ground_truth": "ground_truth.json",
         "launch": "launch.json"}

DEPARTMENTS = ("apparel", "pharmacy", "grocery")
START = np.datetime64("2025-01-01")
END = np.datetime64("2025-12-31")
LAUNCH_DATE = "2025-08-01"
SUMMER_MONTHS = (6, 7, 8)

# Month profiles (Jan..Dec) of a subcategory's demand; mean about 1.
_PROFILES = {
    "flat": [1.0] * 12,
    "winter": [1.7, 1.4, 1.0, 0.7, 0.5, 0.4, 0.4, 0.5, 0.8, 1.2, 1.6, 1.8],
    "autumn": [1.1, 0.9, 1.0, 0.8, 0.6, 0.4, 0.4, 0.6, 1.2, 1.6, 1.6, 1.3],
    "cold": [1.8, 1.6, 1.2, 0.9, 0.7, 0.6, 0.6, 0.6, 0.8, 1.1, 1.5, 1.9],
    "summer": [0.6, 0.6, 0.8, 1.0, 1.3, 1.7, 1.8, 1.7, 1.2, 0.9, 0.7, 0.6],
    "newyear": [1.9, 1.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.0, 1.3],
}


def _grid(subcat_en, subcat_zh, brands, variants, n):
    """SKUs as brand x variant, brands varying fastest, so SKU 0 and 1 are two brands."""
    out = []
    for i in range(n):
        b_en, b_zh, b_mult = brands[i % len(brands)]
        v_en, v_zh, v_mult = variants[(i // len(brands)) % len(variants)]
        name = " ".join(x for x in (b_en, v_en, subcat_en) if x)
        out.append((b_en, name, f"{b_zh}{v_zh}{subcat_zh}", b_mult * v_mult))
    return out


def _named(items):
    """SKUs given in full: (brand_en, brand_zh, name_en, name_zh, price multiplier)."""
    return [(b_en, name_en, name_zh, mult) for b_en, _b_zh, name_en, name_zh, mult in items]


def _sub(dept, cat, en, zh, price, pop, qty, profile, need, season, skus, cost=None):
    return dict(department=dept, category=cat, subcategory=en, subcategory_zh=zh, price=price, pop=pop,
                qty=qty, profile=profile, need=need, season=season, skus=skus, cost=cost)


_YOUNGOR, _HLA, _WOLF = ("Youngor", "雅戈尔", 1.1), ("HLA", "海澜之家", 1.0), ("Septwolves", "七匹狼", 1.05)
_GOLDLION, _SEMIR, _MTSB = ("Goldlion", "金利来", 1.2), ("Semir", "森马", 0.9), ("Metersbonwe", "美特斯邦威", 0.85)
_LILANZ, _LANGSHA, _NJR = ("Lilanz", "利郎", 1.0), ("Langsha", "浪莎", 1.0), ("Nanjiren", "南极人", 0.9)
_HYX, _BYH = ("Hengyuanxiang", "恒源祥", 1.0), ("By-health", "汤臣倍健", 1.1)
_PLAIN = ("", "", 1.0)

_SPEC = [
    # ---- apparel
    _sub("apparel", "shirts", "business shirt", "商务衬衫", 199, 8, 0.05, "autumn", "office wear", "all",
         _grid("business shirt", "商务衬衫", [_YOUNGOR, _HLA, _WOLF],
               [("white", "白色", 1.0), ("light blue", "浅蓝色", 1.0), ("striped", "条纹", 1.1)], 7)),
    _sub("apparel", "shirts", "casual shirt", "休闲衬衫", 129, 6, 0.05, "flat", "casual wear", "all",
         _grid("casual shirt", "休闲衬衫", [_SEMIR, _MTSB, _HLA],
               [("oxford", "牛津纺", 1.0), ("linen", "亚麻", 1.2)], 5)),
    _sub("apparel", "shirts", "polo shirt", "Polo衫", 119, 4, 0.05, "summer", "casual wear", "summer",
         _grid("polo shirt", "", [_LILANZ, _SEMIR],
               [("navy", "藏青色", 1.0), ("white", "白色", 1.0)], 4)),
    _sub("apparel", "shirts", "t-shirt", "T恤", 59, 7, 0.2, "summer", "casual wear", "summer",
         _grid("t-shirt", "T恤", [_SEMIR, _MTSB, ("Anta", "安踏", 1.2)],
               [("crew neck", "圆领", 1.0), ("printed", "印花", 1.1)], 5)),
    _sub("apparel", "accessories", "tie", "领带", 129, 1.6, 0.0, "flat", "office wear", "all",
         _grid("tie", "领带", [_GOLDLION, _YOUNGOR],
               [("navy silk", "藏青真丝", 1.0), ("burgundy", "酒红色", 1.0), ("striped", "斜纹", 0.9)], 5)),
    _sub("apparel", "accessories", "belt", "皮带", 159, 3, 0.0, "flat", "office wear", "all",
         _grid("belt", "皮带", [_GOLDLION, _WOLF], [("black leather", "黑色真皮", 1.0), ("brown", "棕色", 0.9)], 4)),
    _sub("apparel", "accessories", "socks", "袜子", 29.9, 7, 0.5, "flat", "basics", "all",
         _grid("socks 3-pack", "袜子三双装", [_LANGSHA, _NJR], [("black", "黑色", 1.0), ("grey", "灰色", 1.0)], 4)),
    _sub("apparel", "accessories", "scarf", "围巾", 99, 2, 0.0, "winter", "keep warm", "winter",
         _grid("scarf", "羊毛围巾", [_HYX], [("grey wool", "灰色", 1.0), ("red wool", "红色", 1.0),
                                         ("check", "格纹", 1.1)], 3)),
    _sub("apparel", "trousers", "business trousers", "商务西裤", 259, 3.5, 0.0, "flat", "office wear", "all",
         _grid("business trousers", "商务西裤", [_YOUNGOR, _HLA, _WOLF], [("black", "黑色", 1.0), ("grey", "灰色", 1.0)], 5)),
    _sub("apparel", "trousers", "jeans", "牛仔裤", 169, 7, 0.05, "flat", "casual wear", "all",
         _grid("jeans", "牛仔裤", [_SEMIR, _MTSB, ("Jeanswest", "真维斯", 0.9)],
               [("slim", "修身", 1.0), ("straight", "直筒", 1.0)], 5)),
    _sub("apparel", "trousers", "casual trousers", "休闲裤", 139, 4, 0.0, "flat", "casual wear", "all",
         _grid("casual trousers", "休闲裤", [_HLA, _SEMIR], [("khaki", "卡其色", 1.0), ("navy", "藏青色", 1.0)], 4)),
    _sub("apparel", "outerwear", "jacket", "夹克", 399, 4, 0.0, "autumn", "keep warm", "winter",
         _grid("jacket", "夹克", [_WOLF, _HLA, ("K-Boxing", "劲霸", 1.15)],
               [("black", "黑色", 1.0), ("khaki", "卡其色", 1.0)], 5)),
    _sub("apparel", "outerwear", "sweater", "毛衣", 299, 3, 0.0, "winter", "keep warm", "winter",
         _grid("sweater", "毛衣", [_HYX, ("Erdos", "鄂尔多斯", 1.6)], [("v-neck", "V领", 1.0), ("crew", "圆领", 1.0)], 4)),
    _sub("apparel", "outerwear", "down jacket", "羽绒服", 699, 2, 0.0, "winter", "keep warm", "winter",
         _grid("down jacket", "羽绒服", [("Bosideng", "波司登", 1.2), ("Yaloo", "雅鹿", 0.9)],
               [("long", "长款", 1.2), ("short", "短款", 1.0)], 4)),
    _sub("apparel", "basics", "underwear", "内裤", 39.9, 5, 0.5, "flat", "basics", "all",
         _grid("underwear", "内裤", [_NJR, _LANGSHA], [("cotton", "纯棉", 1.0), ("modal", "莫代尔", 1.2)], 4)),
    # ---- pharmacy
    _sub("pharmacy", "supplements", "calcium", "钙片", 89, 8, 0.05, "flat", "bone health", "all", _named([
        ("Caltrate", "钙尔奇", "Caltrate calcium + D 60 tablets", "钙尔奇碳酸钙D3片60片", 1.0),
        ("By-health", "汤臣倍健", "By-health calcium 100 tablets", "汤臣倍健钙片100片", 1.1),
        ("D-Cal", "迪巧", "D-Cal calcium 60 tablets", "迪巧维D钙咀嚼片60片", 1.0),
        ("Caltrate", "钙尔奇", "Caltrate calcium + D 100 tablets", "钙尔奇碳酸钙D3片100片", 1.5),
        ("Swisse", "Swisse", "Swisse calcium + vitamin D", "Swisse钙+维生素D片", 1.6)])),
    _sub("pharmacy", "supplements", "vitamin D", "维生素D", 45, 2.5, 0.0, "flat", "bone health", "all", _named([
        ("Xingsha", "星鲨", "Xingsha vitamin D drops", "星鲨维生素D滴剂", 1.0),
        ("By-health", "汤臣倍健", "By-health vitamin D3", "汤臣倍健维生素D3软胶囊", 1.2),
        ("Ddrops", "Ddrops", "Ddrops vitamin D3 drops", "Ddrops维生素D3滴剂", 1.5)])),
    _sub("pharmacy", "supplements", "cod-liver oil", "鱼肝油", 68, 2.5, 0.0, "flat", "bone health", "all", _named([
        ("Ikexin", "伊可新", "Ikexin vitamin AD (cod-liver oil)", "伊可新维生素AD滴剂", 1.0),
        ("By-health", "汤臣倍健", "By-health cod-liver oil softgels", "汤臣倍健鱼肝油软胶囊", 1.1),
        ("Seven Seas", "七海", "Seven Seas cod-liver oil", "七海鳕鱼肝油", 1.3)])),
    _sub("pharmacy", "supplements", "vitamin C", "维生素C", 35, 4, 0.05, "cold", "cold relief", "all", _named([
        ("Yangshengtang", "养生堂", "Yangshengtang vitamin C chewable", "养生堂维生素C咀嚼片", 1.0),
        ("By-health", "汤臣倍健", "By-health vitamin C tablets", "汤臣倍健维生素C片", 1.1),
        ("NCPC", "华北制药", "NCPC vitamin C tablets", "华北制药维生素C片", 0.5),
        ("Redoxon", "力度伸", "Redoxon vitamin C effervescent", "力度伸维生素C泡腾片", 1.2)])),
    _sub("pharmacy", "supplements", "multivitamin", "复合维生素", 129, 3, 0.0, "flat", "daily health", "all", _named([
        ("Centrum", "善存", "Centrum multivitamin", "善存多维元素片", 1.0),
        ("By-health", "汤臣倍健", "By-health multivitamin", "汤臣倍健多种维生素矿物质片", 0.9),
        ("Centrum", "善存", "Centrum silver 50+", "善存银片", 1.2)])),
    _sub("pharmacy", "remedies", "cold remedy", "感冒药", 19.9, 7, 0.0, "cold", "cold relief;family first aid", "all",
         _named([
             ("999", "三九", "999 Ganmaoling granules", "999感冒灵颗粒", 1.0),
             ("Baijiahei", "白加黑", "Baijiahei day-night cold tablets", "白加黑氨酚伪麻美芬片", 0.9),
             ("Lianhua Qingwen", "以岭", "Lianhua Qingwen capsules", "连花清瘟胶囊", 1.4),
             ("Contac", "新康泰克", "Contac cold capsules", "新康泰克复方盐酸伪麻黄碱缓释胶囊", 1.2)])),
    _sub("pharmacy", "remedies", "stomach remedy", "胃药", 32, 3, 0.0, "flat", "family first aid", "summer", _named([
        ("Stresam", "斯达舒", "Stresam stomach capsules", "斯达舒维U颠茄铝胶囊", 1.0),
        ("Motilium", "吗丁啉", "Motilium domperidone tablets", "吗丁啉多潘立酮片", 0.9),
        ("Smecta", "思密达", "Smecta diarrhoea powder", "思密达蒙脱石散", 0.8)])),
    _sub("pharmacy", "remedies", "heat-clearing remedy", "清热药", 18, 3, 0.0, "summer", "family first aid", "summer",
         _named([
             ("Tongrentang", "同仁堂", "Tongrentang Huanglian Shangqing tablets", "同仁堂黄连上清片", 1.0),
             ("Baiyunshan", "白云山", "Baiyunshan Banlangen granules", "白云山板蓝根颗粒", 0.8),
             ("Taiji", "太极", "Taiji Huoxiang Zhengqi liquid", "太极藿香正气口服液", 1.2)])),
    _sub("pharmacy", "remedies", "dewormer", "驱虫药", 15, 1.5, 0.0, "flat", "family first aid", "summer", _named([
        ("Changchongqing", "肠虫清", "Changchongqing albendazole tablets", "肠虫清阿苯达唑片", 1.0),
        ("Baotatang", "宝塔糖", "Pagoda sugar dewormer for children", "宝塔糖驱虫药", 0.7)])),
    _sub("pharmacy", "remedies", "pain relief", "止痛药", 28, 4, 0.0, "flat", "pain relief", "all", _named([
        ("Fenbid", "芬必得", "Fenbid ibuprofen capsules", "芬必得布洛芬缓释胶囊", 1.0),
        ("Saridon", "散利痛", "Saridon tablets", "散利痛复方对乙酰氨基酚片", 0.8),
        ("Tylenol", "泰诺林", "Tylenol acetaminophen tablets", "泰诺林对乙酰氨基酚缓释片", 1.1)])),
    _sub("pharmacy", "remedies", "cough syrup", "止咳糖浆", 39, 3, 0.0, "cold", "cold relief", "winter", _named([
        ("Nin Jiom", "念慈菴", "Nin Jiom pei pa koa", "念慈菴蜜炼川贝枇杷膏", 1.0),
        ("Jizhi", "太极", "Jizhi cough syrup", "急支糖浆", 0.6)])),
    _sub("pharmacy", "first aid", "plasters", "创可贴", 12.8, 4, 0.1, "flat", "family first aid", "all", _named([
        ("Yunnan Baiyao", "云南白药", "Yunnan Baiyao plasters 20", "云南白药创可贴20片", 1.0),
        ("Band-Aid", "邦迪", "Band-Aid plasters 20", "邦迪创可贴20片", 1.1),
        ("Hartmann", "可孚", "Waterproof plasters 10", "防水创可贴10片", 0.8)])),
    _sub("pharmacy", "first aid", "medicine bag", "药品收纳袋", 5, 0.8, 0.0, "flat", "gift", "all", _named([
        ("House brand", "药房自有", "Medicine pouch", "药品收纳袋", 1.0),
        ("House brand", "药房自有", "Family first-aid pouch", "家庭急救收纳包", 1.2)]), cost=(1.0, 2.0)),
    _sub("pharmacy", "first aid", "thermometer", "体温计", 59, 1.5, 0.0, "cold", "family first aid", "all", _named([
        ("Yuwell", "鱼跃", "Yuwell digital thermometer", "鱼跃电子体温计", 1.0),
        ("Omron", "欧姆龙", "Omron digital thermometer", "欧姆龙电子体温计", 1.3)])),
    _sub("pharmacy", "first aid", "masks", "口罩", 19.9, 4, 0.4, "cold", "cold relief", "all", _named([
        ("Winner", "稳健", "Winner surgical masks 50", "稳健医用外科口罩50只", 1.0),
        ("3M", "3M", "3M KN95 masks 10", "3M KN95口罩10只", 1.5),
        ("Hakugen", "袋鼠医生", "Dr. Kangaroo masks 30", "袋鼠医生医用口罩30只", 0.8)])),
    # ---- grocery
    _sub("grocery", "dairy", "milk", "牛奶", 12.5, 9, 0.5, "flat", "breakfast", "all", _named([
        ("Yili", "伊利", "Yili pure milk 1L", "伊利纯牛奶1L", 1.0),
        ("Mengniu", "蒙牛", "Mengniu pure milk 1L", "蒙牛纯牛奶1L", 1.0),
        ("Bright", "光明", "Bright fresh milk 950ml", "光明鲜牛奶950ml", 1.3),
        ("Yili", "伊利", "Yili pure milk 250ml x 12", "伊利纯牛奶250ml×12盒", 4.2),
        ("Mengniu", "蒙牛", "Telunsu milk 250ml x 12", "特仑苏纯牛奶250ml×12盒", 5.0)])),
    _sub("grocery", "dairy", "yogurt", "酸奶", 9.9, 6, 0.8, "flat", "breakfast", "all", _named([
        ("Yili", "伊利", "Ambrosial yogurt 200g", "安慕希酸奶200g", 1.0),
        ("Junlebao", "君乐宝", "Junlebao yogurt 200g", "君乐宝简醇酸奶200g", 0.9),
        ("Mengniu", "蒙牛", "Chunzhen yogurt 200g", "纯甄酸奶200g", 1.0),
        ("Bright", "光明", "Bright Moslian yogurt", "光明莫斯利安酸奶", 1.1)])),
    _sub("grocery", "bakery", "bread", "面包", 8.5, 7, 0.3, "flat", "breakfast", "all", _named([
        ("Toly", "桃李", "Toly sliced bread", "桃李天然酵母面包", 1.0),
        ("Mankattan", "曼可顿", "Mankattan whole wheat bread", "曼可顿全麦面包", 1.2),
        ("Toly", "桃李", "Toly croissant", "桃李羊角面包", 0.7),
        ("Daliyuan", "达利园", "Daliyuan soft bread", "达利园法式软面包", 1.4)])),
    _sub("grocery", "fresh", "eggs", "鸡蛋", 19.9, 5, 0.0, "flat", "breakfast", "all", _named([
        ("Deqingyuan", "德青源", "Deqingyuan eggs 10", "德青源鲜鸡蛋10枚", 1.0),
        ("Farm", "农家", "Farm eggs 30", "农家土鸡蛋30枚", 2.2)])),
    _sub("grocery", "fresh", "fruit", "水果", 12, 8, 0.8, "summer", "fresh food", "all", _named([
        ("Fresh", "生鲜", "Apples 1kg", "红富士苹果1kg", 1.0),
        ("Fresh", "生鲜", "Bananas 1kg", "香蕉1kg", 0.7),
        ("Fresh", "生鲜", "Watermelon", "西瓜", 2.0),
        ("Fresh", "生鲜", "Oranges 1kg", "赣南脐橙1kg", 1.1),
        ("Fresh", "生鲜", "Grapes 500g", "巨峰葡萄500g", 1.2)])),
    _sub("grocery", "fresh", "vegetables", "蔬菜", 6, 7, 0.8, "flat", "fresh food", "all", _named([
        ("Fresh", "生鲜", "Bok choy 500g", "上海青500g", 1.0),
        ("Fresh", "生鲜", "Tomatoes 500g", "西红柿500g", 1.2),
        ("Fresh", "生鲜", "Potatoes 1kg", "土豆1kg", 0.9)])),
    _sub("grocery", "staples", "rice", "大米", 59, 3, 0.0, "newyear", "staples", "all", _named([
        ("Arawana", "金龙鱼", "Arawana rice 5kg", "金龙鱼大米5kg", 1.0),
        ("Wuchang", "五常", "Wuchang rice 5kg", "五常稻花香大米5kg", 1.5),
        ("Fortune", "福临门", "Fortune rice 5kg", "福临门东北大米5kg", 0.9)])),
    _sub("grocery", "staples", "noodles", "面条", 15, 5, 0.5, "flat", "staples", "all", _named([
        ("Master Kong", "康师傅", "Master Kong beef noodles 5-pack", "康师傅红烧牛肉面五连包", 1.0),
        ("Jinmailang", "今麦郎", "Jinmailang noodles 5-pack", "今麦郎一桶半五连包", 0.9),
        ("Kemen", "克明", "Kemen dried noodles 1kg", "克明挂面1kg", 0.8),
        ("Uni-President", "统一", "Uni-President pickled cabbage noodles", "统一老坛酸菜牛肉面五连包", 1.0)])),
    _sub("grocery", "staples", "cooking oil", "食用油", 79, 2, 0.0, "newyear", "staples", "all", _named([
        ("Arawana", "金龙鱼", "Arawana blend oil 5L", "金龙鱼调和油5L", 1.0),
        ("Luhua", "鲁花", "Luhua peanut oil 5L", "鲁花5S压榨一级花生油5L", 1.8),
        ("Fortune", "福临门", "Fortune soybean oil 5L", "福临门大豆油5L", 0.9)])),
    _sub("grocery", "beverages", "tea", "茶叶", 68, 2.5, 0.0, "newyear", "gift", "all", _named([
        ("Tianfu", "天福", "Tianfu Tieguanyin 250g", "天福铁观音250g", 1.0),
        ("Zhang Yiyuan", "张一元", "Zhang Yiyuan jasmine tea 200g", "张一元茉莉花茶200g", 0.8),
        ("Lipton", "立顿", "Lipton black tea 100 bags", "立顿红茶100包", 0.7),
        ("Xihu", "西湖牌", "West Lake Longjing 250g", "西湖龙井250g", 2.5)])),
    _sub("grocery", "beverages", "soft drinks", "饮料", 4.5, 8, 1.0, "summer", "refreshment", "summer", _named([
        ("Nongfu Spring", "农夫山泉", "Dongfang Shuye tea 500ml", "东方树叶500ml", 1.2),
        ("Coca-Cola", "可口可乐", "Coca-Cola 500ml", "可口可乐500ml", 0.8),
        ("Uni-President", "统一", "Uni-President iced tea 500ml", "统一冰红茶500ml", 0.8),
        ("Wahaha", "娃哈哈", "Wahaha AD calcium milk 4-pack", "娃哈哈AD钙奶4瓶装", 1.8),
        ("Genki Forest", "元气森林", "Genki Forest sparkling water", "元气森林苏打气泡水", 1.1)])),
    _sub("grocery", "beverages", "bottled water", "矿泉水", 2, 5, 1.5, "summer", "refreshment", "summer", _named([
        ("Nongfu Spring", "农夫山泉", "Nongfu Spring water 550ml", "农夫山泉饮用天然水550ml", 1.0),
        ("C'estbon", "怡宝", "C'estbon water 555ml", "怡宝纯净水555ml", 1.0),
        ("Nongfu Spring", "农夫山泉", "Nongfu Spring water 4L", "农夫山泉饮用天然水4L", 4.5)])),
    _sub("grocery", "snacks", "snacks", "零食", 25, 7, 0.3, "newyear", "treat", "all", _named([
        ("Three Squirrels", "三只松鼠", "Three Squirrels mixed nuts", "三只松鼠每日坚果", 1.0),
        ("Want Want", "旺旺", "Want Want rice crackers", "旺旺雪饼", 0.6),
        ("Bestore", "良品铺子", "Bestore dried beef", "良品铺子牛肉干", 1.3),
        ("Three Squirrels", "三只松鼠", "Three Squirrels pistachios", "三只松鼠开心果", 1.1),
        ("Weilong", "卫龙", "Weilong spicy strips", "卫龙辣条", 0.4),
        ("Want Want", "旺旺", "Want Want gift pack", "旺旺大礼包", 2.4)])),
    _sub("grocery", "snacks", "biscuits", "饼干", 12, 4, 0.2, "flat", "treat", "all", _named([
        ("Oreo", "奥利奥", "Oreo cookies", "奥利奥夹心饼干", 1.0),
        ("Daliyuan", "达利园", "Daliyuan pies", "达利园好吃点饼干", 0.8),
        ("Orion", "好丽友", "Orion Choco Pie", "好丽友巧克力派", 1.5)])),
    _sub("grocery", "snacks", "chocolate", "巧克力", 19.9, 2.5, 0.1, "newyear", "treat", "all", _named([
        ("Dove", "德芙", "Dove milk chocolate", "德芙丝滑牛奶巧克力", 1.0),
        ("Ferrero", "费列罗", "Ferrero Rocher 16", "费列罗榛果威化巧克力16粒", 3.0)])),
]

# Planted associations (subcategory level): when the antecedent is in a basket, all
# missing consequents are added with probability ``p``.
RULES = (
    {"antecedent": ["business shirt"], "consequent": ["tie"], "p": 0.38},
    {"antecedent": ["business shirt"], "consequent": ["business trousers"], "p": 0.15},
    {"antecedent": ["calcium"], "consequent": ["vitamin D", "cod-liver oil"], "p": 0.35},
    {"antecedent": ["cold remedy"], "consequent": ["vitamin C"], "p": 0.35},
)
KIT = {"name": "summer family medicine kit",
       "items": ["stomach remedy", "heat-clearing remedy", "cold remedy", "dewormer"],
       "p_pharmacy_trip": 0.15}
# Two brands of one subcategory: a basket keeps only one of them, bar a small leak.
SUBSTITUTE_SUBCATEGORIES = ("cold remedy", "milk")
SUBSTITUTE_LEAK = 0.03
# The bundles launched in the test stores on LAUNCH_DATE, each with a percent off its add-on lines.
# A gap ticket (anchor bought, an add-on missing) takes the offer with the probability that its
# department's true take-rate curve gives at the bundle's saving, and then buys every missing add-on;
# add-on lines of a complete bundle sell at (1 - discount) of the price.
BUNDLES = (
    {"name": "shirt + tie", "anchor": "business shirt", "addons": ["tie"], "discount": 0.15},
    {"name": "bone health kit", "anchor": "calcium", "addons": ["vitamin D", "cod-liver oil"], "discount": 0.10},
    {"name": "cold relief kit", "anchor": "cold remedy", "addons": ["vitamin C"], "discount": 0.10},
    {"name": "shirt + trousers", "anchor": "business shirt", "addons": ["business trousers"], "discount": 0.15},
    {"name": "jeans + belt", "anchor": "jeans", "addons": ["belt"], "discount": 0.15},
)
#: How the demo's customers really respond, in the policy's family q(d) = q0 + (q_max - q0)(1 - e^(-k d)),
#: d = saving / regular price of the bundle. Deliberately not a multiple of the default curves
#: (recommender.policy.DEFAULT_CURVES): higher, flatter, and steeper near zero, so a calibration
#: that only rescales the defaults is wrong somewhere and a test can tell.
TRUE_TAKE_RATE_CURVES = {
    "apparel": {"q0": 0.30, "q_max": 0.85, "k": 9.0},
    "pharmacy": {"q0": 0.40, "q_max": 0.80, "k": 15.0},
    "grocery": {"q0": 0.05, "q_max": 0.45, "k": 6.0},
}
#: The demo launch's own name and promotion id (launch.json).
LAUNCH_NAME = "autumn bundles 2025"
PROMOTION_ID = "PROMO-2025-08-BUNDLES"


def true_take_rate(department: str, d_pct: float) -> float:
    """The demo customers' take rate at saving share ``d_pct`` in ``department``.

    >>> round(true_take_rate("apparel", 0.0), 2), round(true_take_rate("apparel", 1.0), 2)
    (0.3, 0.85)
    """
    c = TRUE_TAKE_RATE_CURVES[department]
    return float(c["q0"] + (c["q_max"] - c["q0"]) * (1.0 - np.exp(-c["k"] * max(float(d_pct), 0.0))))


# Stores by size rank: traffic weight, apparel/pharmacy emphasis, basket-size level. A 2:1 range
# of traffic, not 4:1: the smallest stores' ticket noise sets the width of a store-level interval.
_STORE_WEIGHTS = (1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.95, 0.9, 0.85, 0.8, 0.75)
# Pairs of neighbours by size, test alternating inside the pairs so neither group is larger.
_TEST_RANKS = (0, 3, 4, 7, 8, 11)
_HOURS = np.array([2, 4, 6, 7, 9, 8, 6, 6, 7, 9, 10, 9, 7, 4], float)  # 08:00 .. 21:00
_WEEKDAY = np.array([0.9, 0.85, 0.9, 0.95, 1.05, 1.3, 1.25])  # Mon .. Sun
_MONTH_TRAFFIC = np.array([1.1, 0.95, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0, 0.95, 1.05, 1.15, 1.2])
_HOLIDAYS = (("2025-01-24", "2025-01-28", 1.5), ("2025-01-29", "2025-02-02", 0.7), ("2025-05-01", "2025-05-05", 1.3),
             ("2025-10-01", "2025-10-07", 1.35), ("2025-11-11", "2025-11-11", 1.6), ("2025-12-24", "2025-12-25", 1.3))
_DEPT_BASE = np.array([0.33, 0.30, 0.37])
_DEPT_LAMBDA = np.array([0.6, 0.8, 2.0])  # extra items beyond the first, by trip department


def _retail_price(x: float) -> float:
    """Shelf prices as shops write them: 199, 49.9, 8.5."""
    if x >= 100:
        return float(round(x / 10) * 10 - 1)
    if x >= 20:
        return round(round(x) - 0.1, 1)
    return round(x, 1)


def _ean13(body: str) -> str:
    digits = [int(c) for c in body]
    check = (10 - (sum(digits[0::2]) + 3 * sum(digits[1::2])) % 10) % 10
    return body + str(check)


def build_catalog(seed: int = 20250101) -> pd.DataFrame:
    """Return the demo catalog (one row per SKU).

    SKU codes are text: apparel ``A1001``..., pharmacy zero-padded ``000101``...,
    grocery EAN-13 barcodes starting ``690``.

    Examples
    --------
    >>> cat = build_catalog()
    >>> sorted(cat["department"].unique())
    ['apparel', 'grocery', 'pharmacy']
    >>> cat.loc[cat["subcategory"] == "medicine bag", "price"].iloc[0]
    np.float64(5.0)
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    counters = {"apparel": 1000, "pharmacy": 100, "grocery": 1000}
    rows = []
    for spec in _SPEC:
        dept = spec["department"]
        for brand, name, name_zh, mult in spec["skus"]:
            counters[dept] += 1
            n = counters[dept]
            sku = {"apparel": f"A{n}", "pharmacy": f"{n:06d}", "grocery": _ean13(f"690123{n:06d}")}[dept]
            price = _retail_price(spec["price"] * mult)
            if spec["cost"] is not None:
                cost = round(float(rng.uniform(*spec["cost"])), 2)
            else:
                cost = round(price * (1 - float(rng.uniform(0.30, 0.60))), 2)
            rows.append({"sku": sku, "name": name, "name_zh": name_zh, "department": dept,
                         "category": spec["category"], "subcategory": spec["subcategory"],
                         "subcategory_zh": spec["subcategory_zh"], "brand": brand,
                         "unit_cost": cost, "price": price, "need": spec["need"], "season": spec["season"],
                         "currency": "CNY"})  # bundles, copy and shelf cards take the currency from here
    return pd.DataFrame(rows)


class _Lines:
    """Receipt lines as growing numpy chunks, with fast 'does receipt r hold subcategory s'."""

    def __init__(self, n_receipts, sub_of_sku, n_subs):
        self.n, self.sub_of_sku, self.n_subs = n_receipts, sub_of_sku, n_subs
        self.r, self.sku, self.qty, self.tag = [], [], [], []
        self.present = np.zeros((n_receipts, n_subs), bool)  # receipt x subcategory

    def add(self, r, sku, qty, tag):
        self.r.append(r), self.sku.append(sku), self.qty.append(qty)
        self.tag.append(np.full(len(r), tag, np.int8))
        self.present[r, self.sub_of_sku[sku]] = True

    def has(self, sub):
        return self.present[:, sub].copy()

    def arrays(self):
        return (np.concatenate(self.r), np.concatenate(self.sku), np.concatenate(self.qty),
                np.concatenate(self.tag))


def _draw(u, group, cum):
    """Categorical draws: element i from row ``group[i]`` of cumulative probabilities ``cum``."""
    out = np.empty(len(u), np.int64)
    for g in np.unique(group):
        sel = group == g
        out[sel] = np.searchsorted(cum[g], u[sel] * cum[g, -1], side="right")
    return np.minimum(out, cum.shape[1] - 1)


def _day_weights(days):
    month = days.astype("datetime64[M]").astype(int) % 12
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    t = (days - START).astype(int) / 364.0
    w = _WEEKDAY[weekday] * _MONTH_TRAFFIC[month] * (1 + 0.12 * t)
    for a, b, f in _HOLIDAYS:
        w = np.where((days >= np.datetime64(a)) & (days <= np.datetime64(b)), w * f, w)
    return w / w.sum()


def _progress(progress, done, total, message):
    if progress is not None:
        progress(done, total, message)


def launch_offers(catalog: pd.DataFrame) -> list[dict]:
    """The launched bundles priced at their dominant SKUs (the first SKU of each subcategory).

    Each dict: name, department, anchor/addon subcategories and SKUs, regular_price,
    bundle_price, saving, saving_pct (the d of the take-rate curve) and true_take_rate.

    >>> [o["name"] for o in launch_offers(build_catalog())][:2]
    ['shirt + tie', 'bone health kit']
    """
    first = catalog.drop_duplicates("subcategory").set_index("subcategory")
    out = []
    for b in BUNDLES:
        anchor, addons = first.loc[b["anchor"]], first.loc[b["addons"]]
        regular = float(anchor["price"] + addons["price"].sum())
        saving = float(round(b["discount"] * addons["price"].sum(), 2))
        d = saving / regular
        out.append({"name": b["name"], "department": str(anchor["department"]), "anchor": b["anchor"],
                    "addons": list(b["addons"]), "anchor_sku": str(anchor["sku"]),
                    "addon_skus": [str(x) for x in addons["sku"]], "discount": b["discount"],
                    "regular_price": round(regular, 2), "bundle_price": round(regular - saving, 2),
                    "saving": saving, "saving_pct": d, "true_take_rate": true_take_rate(anchor["department"], d)})
    return out


def _simulate(catalog, seed, n_receipts, progress=None):
    """Return (lines DataFrame in file order, ground-truth dict)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 2]).spawn(10)]
    rng_rec, rng_cust, rng_bask, rng_kit, rng_rule, rng_promo, rng_dirt = streams[:7]
    R = int(n_receipts)
    subs = [s["subcategory"] for s in _SPEC]
    sub_id = {s: i for i, s in enumerate(subs)}
    S = len(subs)
    sub_dept = np.array([DEPARTMENTS.index(s["department"]) for s in _SPEC])
    sub_of_sku = catalog["subcategory"].map(sub_id).to_numpy()
    dept_of_sku = sub_dept[sub_of_sku]
    price = catalog["price"].to_numpy(float)
    K = len(catalog)
    # within-subcategory Zipf share: the first SKU of a subcategory dominates
    rank_in_sub = catalog.groupby("subcategory", sort=False).cumcount().to_numpy()
    share = 1.0 / (rank_in_sub + 1) ** 1.1
    share = share / pd.Series(share).groupby(sub_of_sku).transform("sum").to_numpy()
    pop = np.array([s["pop"] for s in _SPEC])
    profile = np.array([_PROFILES[s["profile"]] for s in _SPEC])  # S x 12
    qty_lam = np.array([s["qty"] for s in _SPEC])[sub_of_sku]
    # cumulative SKU shares per subcategory, for add-on picks
    sub_cum = np.zeros((S, K))
    sub_cum[sub_of_sku, np.arange(K)] = share
    sub_cum = sub_cum.cumsum(axis=1)

    # ---- receipts: day, time, store
    _progress(progress, 0, 6, "receipts")
    days = np.arange(START, END + 1)
    n_days = len(days)
    day = rng_rec.choice(n_days, size=R, p=_day_weights(days))
    store_w = np.array(_STORE_WEIGHTS) / sum(_STORE_WEIGHTS)
    store = rng_rec.choice(12, size=R, p=store_w)
    hour = 8 + rng_rec.choice(len(_HOURS), size=R, p=_HOURS / _HOURS.sum())
    sec = hour * 3600 + rng_rec.integers(0, 3600, size=R)
    order = np.lexsort((store, sec, day))
    day, store, sec = day[order], store[order], sec[order]
    month = days[day].astype("datetime64[M]").astype(int) % 12  # 0 = January
    weekend = ((days[day].astype(int) + 3) % 7) >= 5
    t = day / (n_days - 1)
    launch_day = int((np.datetime64(LAUNCH_DATE) - START).astype(int))
    is_test_store = np.isin(np.arange(12), _TEST_RANKS)
    test_post = is_test_store[store] & (day >= launch_day)

    # ---- customers: a few thousand, a home store, a favourite department, heavy-tailed loyalty
    n_cust = max(20, R // 8)
    home = rng_cust.choice(12, size=n_cust, p=store_w)
    fav = rng_cust.choice(3, size=n_cust, p=_DEPT_BASE)
    loyalty = np.minimum(rng_cust.pareto(1.5, size=n_cust) + 1, 15)
    identified = rng_cust.random(R) < 0.70
    at_home = rng_cust.random(R) < 0.90
    u_cust = rng_cust.random(R)
    cust = np.full(R, -1)
    everyone = np.cumsum(loyalty)
    for s in range(12):
        mine = np.flatnonzero(home == s)
        sel = identified & at_home & (store == s)
        pool = mine if len(mine) else np.arange(n_cust)
        cum = np.cumsum(loyalty[pool])
        cust[sel] = pool[np.minimum(np.searchsorted(cum, u_cust[sel] * cum[-1], side="right"), len(pool) - 1)]
    sel = identified & ~at_home
    cust[sel] = np.minimum(np.searchsorted(everyone, u_cust[sel] * everyone[-1], side="right"), n_cust - 1)

    # ---- trip department and basket size
    _progress(progress, 1, 6, "baskets")
    norm = (np.array(_STORE_WEIGHTS) - min(_STORE_WEIGHTS)) / (max(_STORE_WEIGHTS) - min(_STORE_WEIGHTS))
    # stores differ in level (basket size, a little in mix) and share the trend and the season; a strong
    # store x season interaction (apparel-heavy stores riding the winter coat season) would make
    # store-level changes differ for reasons unrelated to any launch
    store_mix = np.stack([0.95 + 0.1 * norm, 1.05 - 0.1 * norm, np.ones(12)], axis=1) * _DEPT_BASE
    dept_season = np.stack([(pop[sub_dept == d, None] * profile[sub_dept == d]).sum(0) / pop[sub_dept == d].sum()
                            for d in range(3)], axis=1)  # 12 x 3
    mix = store_mix[store] * dept_season[month]
    dept = (rng_bask.random(R)[:, None] * mix.sum(1, keepdims=True) > np.cumsum(mix, axis=1)).sum(1)
    use_fav = identified & (rng_bask.random(R) < 0.5)
    dept = np.where(use_fav, fav[np.maximum(cust, 0)], dept)
    lam = 0.3 * norm[store] + _DEPT_LAMBDA[dept] + 0.25 * t + 0.3 * weekend
    n_items = 1 + rng_bask.poisson(lam)
    big = rng_bask.random(R) < 0.012  # the odd bulk order: a heavy tail, not a dominant one
    n_items = np.minimum(n_items + big * rng_bask.poisson(4, size=R), 25)

    # ---- background lines: mostly the trip's department, Zipf-like popularity, seasonal
    r_bg = np.repeat(np.arange(R), n_items)
    n_bg = len(r_bg)
    stray = rng_bask.random(n_bg) < 0.12
    line_dept = np.where(stray, rng_bask.choice(3, size=n_bg, p=_DEPT_BASE), dept[r_bg])
    weights = np.zeros((36, K))
    for d in range(3):
        for m in range(12):
            w = pop[sub_of_sku] * share * profile[sub_of_sku, m] * (dept_of_sku == d)
            weights[d * 12 + m] = w
    sku_bg = _draw(rng_bask.random(n_bg), line_dept * 12 + month[r_bg], weights.cumsum(axis=1))
    # one line per SKU per receipt; one brand per substitute subcategory, bar a leak
    _, first = np.unique(r_bg * K + sku_bg, return_index=True)
    keep = np.zeros(n_bg, bool)
    keep[first] = True
    subst = np.isin(sub_of_sku[sku_bg], [sub_id[s] for s in SUBSTITUTE_SUBCATEGORIES])
    key = r_bg * S + sub_of_sku[sku_bg]
    _, first_sub = np.unique(np.where(subst, key, -1 - np.arange(n_bg)), return_index=True)
    first_of_sub = np.zeros(n_bg, bool)
    first_of_sub[first_sub] = True
    leak = rng_bask.random(n_bg) < SUBSTITUTE_LEAK
    keep &= ~subst | first_of_sub | leak
    qty_bg = 1 + rng_bask.poisson(qty_lam[sku_bg])
    lines = _Lines(R, sub_of_sku, S)
    lines.add(r_bg[keep], sku_bg[keep], qty_bg[keep], 0)

    def add_missing(fire, sub, u, tag):
        need = fire & ~lines.has(sub)
        r = np.flatnonzero(need)
        sku = _draw(u[r], np.full(len(r), sub), sub_cum)
        lines.add(r, sku, np.ones(len(r), np.int64), tag)

    # ---- summer kit: some pharmacy trips in June-August buy all four
    _progress(progress, 2, 6, "planted associations")
    summer = np.isin(month + 1, SUMMER_MONTHS)
    kit_trip = summer & (dept == 1) & (rng_kit.random(R) < KIT["p_pharmacy_trip"])
    for item in KIT["items"]:
        add_missing(kit_trip, sub_id[item], rng_kit.random(R), 1)
    # ---- planted rules
    for rule in RULES:
        fire = lines.has(sub_id[rule["antecedent"][0]]) & (rng_rule.random(R) < rule["p"])
        u = rng_rule.random(R)
        for cons in rule["consequent"]:
            add_missing(fire, sub_id[cons], u, 2)
    n_base = sum(len(x) for x in lines.r)
    base_has = lines.present.copy()
    # ---- the promotion: same draws for every receipt, applied only after launch in test stores
    _progress(progress, 3, 6, "bundle launch")
    offers = launch_offers(catalog)
    for b, offer in zip(BUNDLES, offers):
        u_extra, u_pick = rng_promo.random(R), rng_promo.random(R)
        fire = test_post & lines.has(sub_id[b["anchor"]]) & (u_extra < offer["true_take_rate"])
        for addon in b["addons"]:
            add_missing(fire, sub_id[addon], u_pick, 3)
    r_all, sku_all, qty_all, tag_all = lines.arrays()
    unit = price[sku_all].copy()
    for b in BUNDLES:
        complete = test_post & lines.has(sub_id[b["anchor"]])
        for addon in b["addons"]:
            complete &= lines.has(sub_id[addon])
        addon_line = complete[r_all] & np.isin(sub_of_sku[sku_all], [sub_id[a] for a in b["addons"]])
        unit[addon_line] = np.round(price[sku_all[addon_line]] * (1 - b["discount"]), 1)
    base = np.arange(len(r_all)) < n_base

    # ---- truth: ticket value with and without the promotion, same receipts
    _progress(progress, 4, 6, "ground truth")
    amount = qty_all * unit
    atv_with = np.bincount(r_all, amount, R)
    atv_without = np.bincount(r_all[base], qty_all[base] * price[sku_all[base]], R)
    units_with = np.bincount(r_all, qty_all, R)
    units_without = np.bincount(r_all[base], qty_all[base], R)
    tp = test_post
    effect = {
        "definition": "mean over post-launch test-store sale receipts of the receipt value (sum of quantity x "
                      "unit_price over its clean sale lines: positive quantity, non-empty sku, not a 'C' "
                      "receipt, duplicates dropped), with the promotion minus without it, same random draws",
        "n_receipts": int(tp.sum()),
        "atv_without": float(atv_without[tp].mean()),
        "atv_with": float(atv_with[tp].mean()),
        "units_without": float(units_without[tp].mean()),
        "units_with": float(units_with[tp].mean()),
    }
    effect["atv_effect"] = effect["atv_with"] - effect["atv_without"]
    effect["atv_effect_pct"] = 100 * effect["atv_effect"] / effect["atv_without"]
    effect["units_effect"] = effect["units_with"] - effect["units_without"]
    effect["units_effect_pct"] = 100 * effect["units_effect"] / effect["units_without"]
    has_final = lines.present
    attach = []
    for b in BUNDLES:
        a = sub_id[b["anchor"]]
        anchor_n = int((tp & has_final[:, a]).sum())
        both_with = tp & has_final[:, a] & has_final[:, [sub_id[x] for x in b["addons"]]].all(1)
        both_without = tp & base_has[:, a] & base_has[:, [sub_id[x] for x in b["addons"]]].all(1)
        attach.append({"bundle": b["name"], "anchor": b["anchor"], "addons": b["addons"],
                       "anchor_receipts": anchor_n, "attach_rate_without": both_without.sum() / max(anchor_n, 1),
                       "attach_rate_with": both_with.sum() / max(anchor_n, 1)})
        attach[-1]["attach_rate_effect"] = attach[-1]["attach_rate_with"] - attach[-1]["attach_rate_without"]
        gap = tp & base_has[:, a] & ~base_has[:, [sub_id[x] for x in b["addons"]]].all(1)
        attach[-1]["gap_receipts"] = int(gap.sum())
    effect["attach_rates"] = attach
    # what an analyst sees: the naive pre/post carries the common trend, a plain
    # difference-in-differences of the four cell means does not (its noise is did_simple_se)
    group_means, cell_var = {}, 0.0
    for name, grp in (("test", is_test_store[store]), ("control", ~is_test_store[store])):
        for period, sel in (("pre", day < launch_day), ("post", day >= launch_day)):
            group_means[f"{name}_{period}"] = float(atv_with[grp & sel].mean())
            cell_var += atv_with[grp & sel].var(ddof=1) / (grp & sel).sum()
    effect["observed_mean_atv"] = group_means
    effect["naive_pre_post"] = group_means["test_post"] - group_means["test_pre"]
    effect["did_simple"] = effect["naive_pre_post"] - (group_means["control_post"] - group_means["control_pre"])
    effect["did_simple_se"] = float(np.sqrt(cell_var))

    # ---- dirt, never on post-launch test-store receipts
    _progress(progress, 5, 6, "dirt")
    n_lines = len(r_all)
    seq = np.arange(n_lines) * 2
    eligible = np.flatnonzero(~tp)
    n_cancel = max(2, round(R * 0.002))
    n_return = max(2, round(R * 0.001))
    n_dup = max(2, round(R * 0.001))
    n_empty = max(2, round(R * 0.0005))
    cancelled = np.sort(rng_dirt.choice(eligible, size=n_cancel, replace=False))
    c_lines = np.flatnonzero(np.isin(r_all, cancelled))
    c_delay = rng_dirt.integers(300, 3 * 3600, size=R)
    ret_r = rng_dirt.choice(eligible, size=n_return, replace=False)
    ret_sku = rng_dirt.choice(K, size=n_return)
    dup_lines = rng_dirt.choice(np.flatnonzero(~tp[r_all]), size=n_dup, replace=False)
    empty_r = rng_dirt.choice(eligible, size=n_empty, replace=False)
    empty_price = np.round(rng_dirt.uniform(1, 60, size=n_empty), 1)

    rid = np.char.zfill(np.arange(1, R + 1).astype(str), 8).astype(object)
    ts_sec = day.astype(np.int64) * 86400 + sec
    parts = {
        "r": [r_all, r_all[c_lines], ret_r, r_all[dup_lines], empty_r],
        "rid": [rid[r_all], "C" + rid[r_all[c_lines]], rid[ret_r], rid[r_all[dup_lines]], rid[empty_r]],
        "ts": [ts_sec[r_all], np.minimum(ts_sec[r_all[c_lines]] + c_delay[r_all[c_lines]],
                                         day[r_all[c_lines]].astype(np.int64) * 86400 + 86399),
               ts_sec[ret_r], ts_sec[r_all[dup_lines]], ts_sec[empty_r]],
        "key": [np.zeros(n_lines, np.int64), np.ones(len(c_lines), np.int64), np.zeros(n_return, np.int64),
                np.zeros(n_dup, np.int64), np.zeros(n_empty, np.int64)],
        "seq": [seq, seq[c_lines], np.full(n_return, 2 * n_lines + 2), seq[dup_lines] + 1,
                np.full(n_empty, 2 * n_lines + 4)],
        "sku": [catalog["sku"].to_numpy()[sku_all], catalog["sku"].to_numpy()[sku_all[c_lines]],
                catalog["sku"].to_numpy()[ret_sku], catalog["sku"].to_numpy()[sku_all[dup_lines]],
                np.full(n_empty, "", object)],
        "quantity": [qty_all, -qty_all[c_lines], -np.ones(n_return, np.int64), qty_all[dup_lines],
                     np.ones(n_empty, np.int64)],
        "unit_price": [unit, unit[c_lines], price[ret_sku], unit[dup_lines], empty_price],
    }
    frame = pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()})
    frame = frame.sort_values(["ts", "r", "key", "seq"], kind="stable").reset_index(drop=True)
    stamp = np.datetime_as_string(START + frame["ts"].to_numpy().astype("timedelta64[s]"), unit="s")
    store_ids = np.array([f"S{i + 1:02d}" for i in range(12)], object)
    cust_ids = np.where(cust >= 0, np.char.add("M", np.char.zfill((cust + 1).astype(str), 6)), "").astype(object)
    out = pd.DataFrame({
        "receipt_id": frame["rid"].to_numpy(),
        "timestamp": np.char.replace(stamp.astype(str), "T", " ").astype(object),
        "store_id": store_ids[store[frame["r"].to_numpy()]],
        "customer_id": cust_ids[frame["r"].to_numpy()],
        "sku": frame["sku"].to_numpy(),
        "quantity": frame["quantity"].to_numpy(np.int64),
        "unit_price": np.round(frame["unit_price"].to_numpy(float), 2),
    })

    # ---- ground truth of the planted structure, from the clean sale lines
    sku_col = catalog["sku"].to_numpy()
    dominant = {s: sku_col[(sub_of_sku == sub_id[s]) & (rank_in_sub == 0)][0] for s in subs}
    second = {s: sku_col[(sub_of_sku == sub_id[s]) & (rank_in_sub == 1)][0] for s in subs}
    sku_has = np.zeros((R, K), bool)
    sku_has[r_all, sku_all] = True
    sku_index = {s: i for i, s in enumerate(sku_col)}
    no_promo = ~tp

    def conf(ante, cons, sel):
        a = ante & sel
        return {"antecedent_receipts": int(a.sum()), "both_receipts": int((a & cons).sum()),
                "confidence": float((a & cons).sum() / max(a.sum(), 1)),
                "consequent_rate": float((cons & sel).sum() / max(sel.sum(), 1)),
                "consequent_rate_without_antecedent": float((cons & sel & ~ante).sum() / max((sel & ~ante).sum(), 1))}

    associations = []
    for rule in RULES:
        ante = has_final[:, sub_id[rule["antecedent"][0]]]
        cons = has_final[:, [sub_id[c] for c in rule["consequent"]]].all(1)
        ante_sku = sku_has[:, sku_index[dominant[rule["antecedent"][0]]]]
        cons_sku = sku_has[:, [sku_index[dominant[c]] for c in rule["consequent"]]].all(1)
        associations.append({
            "level": "subcategory", "antecedent": rule["antecedent"], "consequent": rule["consequent"],
            "planted_add_probability": rule["p"],
            "antecedent_skus": [dominant[a] for a in rule["antecedent"]],
            "consequent_skus": [dominant[c] for c in rule["consequent"]],
            "without_promotion": conf(ante, cons, no_promo),
            "all_receipts": conf(ante, cons, np.ones(R, bool)),
            "dominant_sku_all_receipts": conf(ante_sku, cons_sku, np.ones(R, bool)),
        })
    kit_all = has_final[:, [sub_id[k] for k in KIT["items"]]]
    kit_truth = {**{k: v for k, v in KIT.items()}, "months": list(SUMMER_MONTHS),
                 "skus": [dominant[k] for k in KIT["items"]]}
    for label, sel in (("summer", summer), ("outside_summer", ~summer)):
        n_sel = int(sel.sum())
        rates = kit_all[sel].mean(0)
        kit_truth[label] = {"receipts": n_sel, "receipts_with_all_items": int(kit_all[sel].all(1).sum()),
                            "expected_all_items_if_independent": float(n_sel * np.prod(rates)),
                            "item_rates": [float(x) for x in rates]}
    substitutes = []
    for s in SUBSTITUTE_SUBCATEGORIES:
        a, b = sku_has[:, sku_index[dominant[s]]], sku_has[:, sku_index[second[s]]]
        substitutes.append({"subcategory": s, "sku_a": dominant[s], "sku_b": second[s],
                            "count_a": int(a.sum()), "count_b": int(b.sum()), "count_ab": int((a & b).sum()),
                            "expected_ab_if_independent": float(a.sum() * b.sum() / R),
                            "leak_probability": SUBSTITUTE_LEAK})
    dirt = {"cancelled_receipts": int(n_cancel), "cancelled_lines": int(len(c_lines)),
            "cancelled_receipt_ids": ["C" + x for x in rid[cancelled]],
            "return_lines": int(n_return), "duplicate_lines": int(n_dup), "empty_sku_lines": int(n_empty)}
    dirt["total_dirty_lines"] = dirt["cancelled_lines"] + n_return + n_dup + n_empty
    stores = [{"store_id": store_ids[i], "size_rank": i + 1, "traffic_weight": _STORE_WEIGHTS[i],
               "group": "test" if is_test_store[i] else "control", "receipts": int((store == i).sum())}
              for i in range(12)]
    truth = {
        "seed": int(seed), "n_receipts": R, "n_customers": int(n_cust),
        "anonymous_receipts": int((cust < 0).sum()),
        "date_range": [str(START), str(END)], "currency": "CNY",
        "stores": stores,
        "test_stores": [s["store_id"] for s in stores if s["group"] == "test"],
        "control_stores": [s["store_id"] for s in stores if s["group"] == "control"],
        "launch_date": LAUNCH_DATE,
        "bundles": [{**b, "anchor_sku": dominant[b["anchor"]], "addon_skus": [dominant[a] for a in b["addons"]],
                     "department": o["department"], "saving_pct": o["saving_pct"],
                     "true_take_rate": o["true_take_rate"],
                     "true_attach_uplift": rate["attach_rate_effect"]}
                    for b, o, rate in zip(BUNDLES, offers, attach)],
        "true_take_rate_curves": TRUE_TAKE_RATE_CURVES,
        "true_effect": effect,
        "associations": associations,
        "summer_kit": kit_truth,
        "substitutes": substitutes,
        "dirt": dirt,
        "clean_lines": int(n_lines),
        "total_lines": int(len(out)),
    }
    return out, _plain(truth)


def _plain(x):
    """JSON-ready copy: numpy scalars to Python, floats rounded to 6 decimals."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return round(float(x), 6)
    return x


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def demo_launch(catalog: pd.DataFrame, truth: dict, receipts_path) -> dict:
    """The demo's launch as a launch record (:mod:`recommender.launch`), projected with the default policy.

    The till discounted any SKU of the add-on subcategories, so the bundles are
    at ``level="subcategory"``; prices and margins are those of the dominant
    SKUs. The projection is what the default (uncalibrated) curves expected.
    """
    from recommender.launch import make_launch
    from recommender.policy import Policy
    from recommender.receipts import load_receipts

    cost = catalog.set_index("sku")["unit_cost"]
    bundles = []
    for i, o in enumerate(launch_offers(catalog)):
        first = catalog.drop_duplicates("subcategory").set_index("subcategory")
        comps = [{"sku": o["anchor_sku"], "role": "anchor", "quantity": 1,
                  "unit_price": float(first.loc[o["anchor"], "price"]),
                  "unit_cost": float(cost[o["anchor_sku"]]),
                  "promotion_price": float(first.loc[o["anchor"], "price"])}]
        for sub, sku in zip(o["addons"], o["addon_skus"]):
            price = float(first.loc[sub, "price"])
            comps.append({"sku": sku, "role": "addon", "quantity": 1, "unit_price": price,
                          "unit_cost": float(cost[sku]), "promotion_price": round(price * (1 - o["discount"]), 2)})
        # the till lines sum to the bundle price to the cent: the last add-on takes the rounding
        comps[-1]["promotion_price"] = round(o["bundle_price"] - sum(c["promotion_price"] for c in comps[:-1]), 2)
        added = sum(c["unit_price"] - c["unit_cost"] for c in comps[1:])
        slug = o["name"].replace(" + ", "-").replace(" ", "-")
        bundles.append({"bundle_id": f"demo-{i + 1}-{slug}", "name": o["name"], "department": o["department"],
                        "level": "subcategory", "anchor": [o["anchor"]], "addons": list(o["addons"]),
                        "components": comps, "discount_type": "addon_discount",
                        "discount_label": f"{o['discount']:.0%} off the add-on",
                        "regular_price": o["regular_price"], "bundle_price": o["bundle_price"],
                        "saving": o["saving"], "saving_pct": o["saving_pct"], "discount_cost": o["saving"],
                        "added_margin": round(added, 2)})
    lines = load_receipts(receipts_path).lines
    return make_launch(bundles, truth["test_stores"], truth["control_stores"], LAUNCH_DATE, str(END),
                       name=LAUNCH_NAME, promotion_id=PROMOTION_ID, lines=lines, catalog=catalog, policy=Policy(),
                       created_by="demo", created_at=f"{LAUNCH_DATE}T00:00:00+00:00")


def demo_paths(out_dir=DEMO_DIR) -> dict:
    """Return the paths of the demo files in ``out_dir`` (existing or not).

    >>> sorted(demo_paths("x"))
    ['catalog', 'ground_truth', 'launch', 'receipts']
    """
    out_dir = Path(out_dir)
    return {key: out_dir / name for key, name in FILES.items()}


def generate_demo(out_dir=DEMO_DIR, seed: int = 20250101, n_receipts: int = 50_000, progress=None) -> dict:
    """Write the demo shop (catalog, receipts, ground truth) into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if needed).
    seed : int
        Same seed, same bytes.
    n_receipts : int
        Number of sale receipts (cancellations come on top).
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    dict
        ``{"catalog": Path, "receipts": Path, "ground_truth": Path}``.

    Examples
    --------
    >>> import tempfile, json
    >>> paths = generate_demo(tempfile.mkdtemp(), n_receipts=500)
    >>> json.loads(paths["ground_truth"].read_text(encoding="utf-8"))["n_receipts"]
    500
    """
    if int(n_receipts) < 100:
        raise ValueError(f"n_receipts must be at least 100, not {n_receipts}")
    paths = demo_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    catalog = build_catalog(seed)
    receipts, truth = _simulate(catalog, seed, n_receipts, progress)
    csv = {"index": False, "encoding": "utf-8", "lineterminator": "\n", "float_format": "%.2f"}
    _atomic_write(paths["catalog"], lambda p: catalog.to_csv(p, **csv))
    _atomic_write(paths["receipts"], lambda p: receipts.to_csv(p, **csv))
    text = json.dumps(truth, ensure_ascii=False, indent=2) + "\n"
    _atomic_write(paths["ground_truth"], lambda p: Path(p).write_text(text, encoding="utf-8"))
    _progress(progress, 5, 6, "launch record")
    launch = demo_launch(catalog, truth, paths["receipts"])
    text = json.dumps(launch, ensure_ascii=False, indent=2) + "\n"
    _atomic_write(paths["launch"], lambda p: Path(p).write_text(text, encoding="utf-8"))
    _progress(progress, 6, 6, "done")
    return paths


def ensure_demo(out_dir=DEMO_DIR, progress=None) -> dict:
    """Return the demo paths, generating the files (default seed and size) only if one is missing.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> ensure_demo(d)["receipts"].exists()
    True
    """
    paths = demo_paths(out_dir)
    if not all(p.exists() for p in paths.values()):
        return generate_demo(out_dir, progress=progress)
    return paths
