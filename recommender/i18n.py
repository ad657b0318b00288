"""English and Chinese labels and copy for the dashboard.

In: a label key and a language ("en" or "zh"). Out: the text, with
``str.format`` fields filled. :data:`LABELS` maps every key to both languages
(a test checks that none is missing); an unknown key is returned as it is so a
typo shows on the page instead of crashing it.
"""

from __future__ import annotations

LANGS = ("en", "zh")

LABELS: dict[str, dict[str, str]] = {
    # navigation and frame
    "app_title": {"en": "Bundle recommender", "zh": "套餐推荐"},
    "page_data": {"en": "Data", "zh": "数据"},
    "page_bundles": {"en": "Bundles", "zh": "套餐"},
    "page_uplift": {"en": "Uplift", "zh": "提升效果"},
    "page_export": {"en": "Export", "zh": "导出"},
    "page_mining": {"en": "Mining", "zh": "挖掘"},
    "language": {"en": "Language", "zh": "语言"},
    "run": {"en": "Mining run", "zh": "挖掘结果"},
    "no_runs": {"en": "No mining run yet: start one on the Mining page.", "zh": "还没有挖掘结果：请在“挖掘”页运行。"},
    # sign-in
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "user_name": {"en": "User name", "zh": "用户名"},
    "password": {"en": "Password", "zh": "密码"},
    "bad_login": {"en": "Unknown user or wrong password.", "zh": "用户名或密码错误。"},
    "sign_in_throttled": {"en": "Too many failed sign-ins. Try again in {seconds} s.",
                          "zh": "登录失败次数过多，请 {seconds} 秒后再试。"},
    "session_expired": {"en": "Your session ended after {minutes} minutes without activity. Sign in again.",
                        "zh": "您已 {minutes} 分钟无操作，会话已结束，请重新登录。"},
    "demo_remote_refused": {"en": "Demo mode (no users file) is only served on this computer. "
                                  "Ask the administrator to create users: python -m recommender.auth add-user.",
                            "zh": "演示模式（无用户文件）只在本机提供。请管理员创建用户：python -m recommender.auth add-user。"},
    "role_denied": {"en": "Your role may not open this page.", "zh": "您的角色无权打开此页面。"},
    "signed_in_as": {"en": "Signed in as **{user}** ({role})", "zh": "当前用户 **{user}**（{role}）"},
    "demo_mode": {"en": "Demo mode: no users file, so this dashboard is open read-write for one local user. "
                        "Add users with `python -m recommender.auth add-user NAME --role ROLE` to require sign-in.",
                  "zh": "演示模式：没有用户文件，本看板对本地单一用户开放读写。"
                        "用 `python -m recommender.auth add-user 用户名 --role 角色` 添加用户后需要登录。"},
    "role_merchandiser": {"en": "merchandiser", "zh": "采购/商品"},
    "role_analyst": {"en": "analyst", "zh": "分析师"},
    "role_staff": {"en": "staff", "zh": "门店员工"},
    "role_local": {"en": "local user", "zh": "本地用户"},
    # data page
    "data_title": {"en": "Receipts", "zh": "小票数据"},
    "source": {"en": "Data source", "zh": "数据来源"},
    "source_demo": {"en": "Demo shop", "zh": "演示门店"},
    "source_upload": {"en": "Upload receipts", "zh": "上传小票"},
    "demo_caption": {"en": "Demo shop data: `{name}` ({fmt}, {enc}, separator {sep}). Every input row is either "
                           "used or rejected with a reason.",
                     "zh": "演示数据：`{name}`（{fmt}，{enc}，分隔符 {sep}）。每一行输入要么被使用，要么注明拒绝原因。"},
    "upload_receipts": {"en": "Receipts file (CSV, TSV, gz, XLSX, Parquet)", "zh": "小票文件（CSV、TSV、gz、XLSX、Parquet）"},
    "upload_catalog": {"en": "Catalog file (optional; needed above SKU level)", "zh": "商品目录（可选；SKU 以上层级需要）"},
    "map_columns": {"en": "Map the columns", "zh": "对应列名"},
    "map_help": {"en": "Recognised columns are preselected; change any that are wrong. Receipt id and SKU are "
                       "required.", "zh": "已自动识别的列已预选，如有错误请修改。小票号和商品编码为必填。"},
    "not_mapped": {"en": "(none)", "zh": "（无）"},
    "load": {"en": "Load receipts", "zh": "读取小票"},
    "loading": {"en": "Loading receipts...", "zh": "正在读取小票..."},
    "rows_read": {"en": "Rows read", "zh": "读取行数"},
    "rows_used": {"en": "Rows used", "zh": "使用行数"},
    "rows_rejected": {"en": "Rows rejected", "zh": "拒绝行数"},
    "receipts": {"en": "Receipts", "zh": "小票数"},
    "items_skus": {"en": "Items (SKUs)", "zh": "商品数（SKU）"},
    "stores": {"en": "Stores", "zh": "门店数"},
    "customers": {"en": "Customers", "zh": "顾客数"},
    "balanced": {"en": "Balanced", "zh": "核对一致"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "NO", "zh": "否"},
    "dates": {"en": "Dates: **{a}** to **{b}**", "zh": "日期：**{a}** 至 **{b}**"},
    "rejected_by_reason": {"en": "Rejected rows by reason", "zh": "按原因统计的拒绝行"},
    "download_rejects": {"en": "Download rejected rows (CSV)", "zh": "下载拒绝行（CSV）"},
    "kept_notes": {"en": "Kept, but worth knowing", "zh": "已保留，但需注意"},
    "upload_first": {"en": "Upload a receipts file to start.", "zh": "请先上传小票文件。"},
    "dataset_ready": {"en": "Loaded. Mine it on the Mining page.", "zh": "读取完成。可在“挖掘”页进行挖掘。"},
    "input_problem": {"en": "This file cannot be used: {msg}", "zh": "该文件无法使用：{msg}"},
    # bundles page
    "bundles_title": {"en": "Bundles and rules", "zh": "套餐与关联规则"},
    "filters": {"en": "Filters", "zh": "筛选"},
    "level": {"en": "Level", "zh": "层级"},
    "department": {"en": "Department", "zh": "部门"},
    "store": {"en": "Store", "zh": "门店"},
    "season": {"en": "Season", "zh": "季节"},
    "all": {"en": "(all)", "zh": "（全部）"},
    "min_support": {"en": "Min support", "zh": "最小支持度"},
    "min_confidence": {"en": "Min confidence", "zh": "最小置信度"},
    "min_lift": {"en": "Min lift", "zh": "最小提升度"},
    "significant_only": {"en": "Significant only (q < FDR)", "zh": "只看显著（q < FDR）"},
    "search": {"en": "Search items", "zh": "搜索商品"},
    "n_bundles": {"en": "{n:,} bundles, {r:,} rules after filters", "zh": "筛选后 {n:,} 个套餐，{r:,} 条规则"},
    "tab_bundles": {"en": "Bundles", "zh": "套餐"},
    "tab_rules": {"en": "Rules", "zh": "规则"},
    "tab_scatter": {"en": "Support vs confidence", "zh": "支持度与置信度"},
    "tab_network": {"en": "Rule network", "zh": "规则网络"},
    "tab_offer": {"en": "What to offer", "zh": "推荐什么"},
    "network_caption": {"en": "Top {n} rules by lift: an arrow runs from what is in the basket to what it brings "
                              "along; thicker = more receipts.",
                        "zh": "按提升度排名前 {n} 条规则：箭头从篮中商品指向带动购买的商品；越粗表示小票越多。"},
    "no_bundles": {"en": "No bundles match the filters.", "zh": "没有符合筛选条件的套餐。"},
    "no_bundle_table": {"en": "This run has no bundles table yet; showing rules only.",
                        "zh": "此挖掘结果尚无套餐表，仅显示规则。"},
    "detail": {"en": "Bundle detail", "zh": "套餐详情"},
    "pick_bundle": {"en": "Bundle", "zh": "套餐"},
    "evidence": {"en": "Evidence", "zh": "证据"},
    "count": {"en": "Receipts with the set", "zh": "含整套的小票"},
    "gap_tickets": {"en": "Gap tickets", "zh": "缺件小票"},
    "set_tickets": {"en": "Set tickets", "zh": "整套小票"},
    "confidence": {"en": "Confidence", "zh": "置信度"},
    "lift": {"en": "Lift", "zh": "提升度"},
    "p_value": {"en": "p value", "zh": "p 值"},
    "q_value": {"en": "q value (FDR)", "zh": "q 值（FDR）"},
    "substitute_warning": {"en": "Substitute warning: {text}", "zh": "替代品提示：{text}"},
    "projection": {"en": "Projected uplift", "zh": "预计提升"},
    "take_rate": {"en": "Take rate (share of gap tickets that take the offer)", "zh": "接受率（缺件小票中接受优惠的比例）"},
    "projected_takers": {"en": "Takers", "zh": "接受人次"},
    "projected_profit": {"en": "Incremental profit", "zh": "增量毛利"},
    "break_even": {"en": "Break-even take rate", "zh": "保本接受率"},
    "price_editor": {"en": "Price", "zh": "定价"},
    "discount_type": {"en": "Discount type", "zh": "优惠方式"},
    "max_discount": {"en": "Discount cap (% of regular price)", "zh": "优惠上限（占原价 %）"},
    "max_amount": {"en": "Discount cap (amount)", "zh": "优惠上限（金额）"},
    "min_margin": {"en": "Minimum bundle margin (%)", "zh": "套餐最低毛利率（%）"},
    "regular_price": {"en": "Regular price", "zh": "原价"},
    "bundle_price": {"en": "Bundle price", "zh": "套餐价"},
    "saving": {"en": "Saving", "zh": "立省"},
    "guardrails": {"en": "Guardrails", "zh": "约束条件"},
    "guardrail": {"en": "Guardrail", "zh": "约束"},
    "limit": {"en": "Limit", "zh": "限值"},
    "value": {"en": "Value", "zh": "数值"},
    "holds": {"en": "Holds", "zh": "满足"},
    "binding": {"en": "Binding: **{name}**", "zh": "起作用的约束：**{name}**"},
    "not_recommended": {"en": "Not recommended: {why}", "zh": "不建议：{why}"},
    "reason_en": {"en": "Reason line (English)", "zh": "推荐理由（英文）"},
    "reason_zh": {"en": "Reason line (Chinese)", "zh": "推荐理由（中文）"},
    "status": {"en": "Status", "zh": "状态"},
    "status_approved": {"en": "approved", "zh": "已批准"},
    "status_rejected": {"en": "rejected", "zh": "已拒绝"},
    "status_pending": {"en": "pending", "zh": "待定"},
    "approved_by": {"en": "Approved by **{user}** at {at}", "zh": "由 **{user}** 于 {at} 批准"},
    "rejected_by": {"en": "Rejected by **{user}** at {at}", "zh": "由 **{user}** 于 {at} 拒绝"},
    "approve": {"en": "Approve", "zh": "批准"},
    "reject": {"en": "Reject", "zh": "拒绝"},
    "save_edits": {"en": "Save edits", "zh": "保存修改"},
    "reset": {"en": "Reset", "zh": "重置"},
    "read_only": {"en": "Your role ({role}) can look but not approve or edit bundles.",
                  "zh": "您的角色（{role}）只能查看，不能批准或修改套餐。"},
    "saved": {"en": "Saved: {action} by {user}", "zh": "已保存：{user} {action}"},
    "history": {"en": "Decision history", "zh": "决策记录"},
    "basket": {"en": "Basket items", "zh": "购物篮商品"},
    "suggestions": {"en": "Suggestions", "zh": "推荐"},
    "suggest_store": {"en": "Store (optional)", "zh": "门店（可选）"},
    "offer_needs_catalog": {"en": "Suggestions need the catalog the run was mined with (names, levels).",
                            "zh": "推荐需要挖掘时使用的商品目录（名称、层级）。"},
    "pick_items": {"en": "Pick items in the basket to see what to offer.", "zh": "选择购物篮中的商品，查看推荐。"},
    # uplift page
    "uplift_title": {"en": "Ticket uplift", "zh": "客单提升"},
    "ticket_definition": {"en": "A receipt counts once for the store and once for each department / category / "
                                "brand / SKU it contains. Counts of different values therefore do **not** add up "
                                "to the store's: the table below shows by how much their sum exceeds it.",
                          "zh": "一张小票对门店计一次，对其包含的每个部门/品类/品牌/SKU 各计一次。"
                                "因此不同取值的小票数**不能相加**等于门店小票数；下表显示其总和超出多少。"},
    "ticket_metrics": {"en": "Ticket metrics by {level}", "zh": "按{level}的客单指标"},
    "overlap": {"en": "Why the counts do not add up", "zh": "为何不能相加"},
    "test_stores": {"en": "Test stores", "zh": "试点门店"},
    "control_stores": {"en": "Control stores", "zh": "对照门店"},
    "launch_date": {"en": "Launch date", "zh": "上线日期"},
    "metric": {"en": "Metric", "zh": "指标"},
    "over_time": {"en": "{metric} per week, test vs control (launch marked)", "zh": "每周{metric}：试点与对照（标出上线日）"},
    "estimate": {"en": "Measured change", "zh": "测得变化"},
    "interval": {"en": "{conf:.0%} interval: {lo:+.2f} to {hi:+.2f} ({lop:+.1f}% to {hip:+.1f}%), p = {p:.3g}",
                 "zh": "{conf:.0%} 区间：{lo:+.2f} 至 {hi:+.2f}（{lop:+.1f}% 至 {hip:+.1f}%），p = {p:.3g}"},
    "design_note": {"en": "Store-level difference-in-differences: {nt} test and {nc} control stores, "
                          "{n:,} tickets.", "zh": "门店层面的双重差分：{nt} 家试点、{nc} 家对照门店，共 {n:,} 张小票。"},
    "not_enough": {"en": "Cannot measure: {msg}", "zh": "无法测量：{msg}"},
    "expected_vs_actual": {"en": "Expected vs actual for launched bundles", "zh": "已上线套餐：预期与实际"},
    "no_launched": {"en": "Approve bundles to compare their projection with what was measured.",
                    "zh": "批准套餐后可比较预期与实测。"},
    "attach_for": {"en": "Attach rate of {name}", "zh": "{name} 的连带率"},
    # export page
    "export_title": {"en": "Export for stores", "zh": "导出给门店"},
    "selection": {"en": "Which bundles", "zh": "哪些套餐"},
    "sel_approved": {"en": "approved", "zh": "已批准"},
    "sel_recommended": {"en": "recommended", "zh": "系统推荐"},
    "sel_all": {"en": "all", "zh": "全部"},
    "export_lang": {"en": "Language of the list", "zh": "清单语言"},
    "valid_from": {"en": "Valid from", "zh": "开始日期"},
    "valid_to": {"en": "Valid to", "zh": "结束日期"},
    "download_csv": {"en": "Download CSV", "zh": "下载 CSV"},
    "download_xlsx": {"en": "Download Excel", "zh": "下载 Excel"},
    "download_html": {"en": "Download printable page (HTML)", "zh": "下载打印页（HTML）"},
    "download_pos": {"en": "Download till file (POS)", "zh": "下载收银机文件（POS）"},
    "nothing_to_export": {"en": "No bundles in this selection yet (approve some on the Bundles page).",
                          "zh": "此选择下还没有套餐（请先在“套餐”页批准）。"},
    "n_export": {"en": "{n} bundles in {s} store(s)", "zh": "{s} 家门店共 {n} 个套餐"},
    # mining page
    "mining_title": {"en": "Re-run mining", "zh": "重新挖掘"},
    "dataset": {"en": "Receipts", "zh": "小票数据"},
    "run_name": {"en": "Run name", "zh": "结果名称"},
    "max_len": {"en": "Longest itemset", "zh": "最大项集长度"},
    "fdr": {"en": "False discovery rate", "zh": "错误发现率"},
    "start_mining": {"en": "Mine", "zh": "开始挖掘"},
    "mining_done": {"en": "Done: {itemsets:,} itemsets, {rules:,} rules, {bundles:,} bundles in {secs:.1f} s.",
                    "zh": "完成：{itemsets:,} 个项集、{rules:,} 条规则、{bundles:,} 个套餐，用时 {secs:.1f} 秒。"},
    "runs_table": {"en": "Runs", "zh": "已有结果"},
    "mine_forbidden": {"en": "Only analysts can re-run mining.", "zh": "只有分析师可以重新挖掘。"},
    "first_start": {"en": "Creating the demo shop and a first mining run (first start only)...",
                    "zh": "正在生成演示门店和首次挖掘结果（仅首次启动）..."},
    # the working dataset (one per user, kept in the database)
    "active_data": {"en": "Active data: **{name}**", "zh": "当前数据：**{name}**"},
    "no_run_for_data": {"en": "No run of this data yet", "zh": "此数据还没有挖掘结果"},
    "earlier_uploads": {"en": "Or choose an earlier upload", "zh": "或选择之前上传的文件"},
    "upload_active": {"en": "Active data: **{name}** (uploaded {at}). Upload another file to replace it.",
                      "zh": "当前数据：**{name}**（上传于 {at}）。上传其他文件可替换。"},
    "upload_refused": {"en": "Upload refused: {msg}", "zh": "上传被拒绝：{msg}"},
    "mine_on": {"en": "Mining **{name}**", "zh": "挖掘数据：**{name}**"},
    "choosing_support": {"en": "Choosing a minimum support for this data...", "zh": "正在根据数据选择最小支持度..."},
    "auto_support": {"en": "Min support {s:.4f} is chosen from this data ({level} level): the smallest that keeps the "
                           "estimated rules under {budget:,} ({rules:,} estimated from {items:,} frequent items "
                           "and their pairs).",
                     "zh": "最小支持度 {s:.4f} 根据此数据选择（{level} 层级）：使估计规则数不超过 {budget:,} 的最小值"
                           "（由 {items:,} 个频繁商品及其组合估计为 {rules:,} 条）。"},
    "support_too_low": {"en": "Min support {s:.4f} would give about {rules:,} rules, more than the limit of "
                              "{limit:,}. Raise Min support to {suggested:.4f} or lower Longest itemset.",
                        "zh": "最小支持度 {s:.4f} 约产生 {rules:,} 条规则，超过上限 {limit:,}。请将最小支持度提高到 "
                              "{suggested:.4f}，或降低最大项集长度。"},
    "support_too_low_exact": {"en": "Too many rules at this Min support: raise Min support to {suggested:.4f} or "
                                    "lower Longest itemset.",
                              "zh": "此最小支持度下规则过多：请将最小支持度提高到 {suggested:.4f}，或降低最大项集长度。"},
    "no_dates": {"en": "No dated tickets: the uplift needs a date on the lines (map the timestamp column on the "
                       "Data page).", "zh": "没有带日期的小票：提升测量需要日期（请在“数据”页映射时间列）。"},
    "no_test_control": {"en": "A test-vs-control comparison needs at least two stores; this data has {n}. The "
                              "before/after comparison below is the design left (a weaker one).",
                        "zh": "测试与对照比较至少需要两家门店；此数据只有 {n} 家。下方为前后对比（较弱的设计）。"},
    "design": {"en": "Design", "zh": "设计"},
    "design_did": {"en": "Test vs control stores", "zh": "测试门店对比对照门店"},
    "design_before_after": {"en": "Before vs after (weaker design)", "zh": "前后对比（较弱的设计）"},
    "weaker_design": {"en": "Before/after: {pre} weeks before and {post} after the launch, {n:,} tickets; each "
                            "week one value, Welch interval. Weaker than test vs control: it credits the launch "
                            "with anything else that changed (season, prices, traffic).",
                      "zh": "前后对比：上线前 {pre} 周、上线后 {post} 周，共 {n:,} 张小票；每周一个值，Welch 区间。"
                            "比测试/对照设计弱：会把同期其他变化（季节、价格、客流）计入上线效果。"},
    "pick_test_control": {"en": "Choose at least one test store and one control store to compare them, or "
                                "choose the before/after design above.",
                          "zh": "请至少选择一家测试门店和一家对照门店，或在上方选择前后对比。"},
    "step_receipts": {"en": "Bring receipts", "zh": "导入小票"},
    "step_receipts_help": {"en": "Upload your till export below (or use the demo shop).",
                           "zh": "在下方上传收银导出文件（或使用演示门店）。"},
    "step_mine": {"en": "Mine", "zh": "挖掘"},
    "step_mine_help": {"en": "Next: the Mining page finds what sells together (its defaults fit your data).",
                       "zh": "下一步：在“挖掘”页找出一起售出的商品（默认参数按数据选择）。"},
    "step_bundles": {"en": "Bundles", "zh": "套餐"},
    "step_bundles_help": {"en": "Next: the Bundles page prices offers from the rules.",
                          "zh": "下一步：在“套餐”页根据规则为套餐定价。"},
    "step_approve": {"en": "Approve, export", "zh": "批准、导出"},
    "step_approve_help": {"en": "Next: approve offers on the Bundles page, then download them on the Export page.",
                          "zh": "下一步：在“套餐”页批准，再在“导出”页下载。"},
    "step_measure": {"en": "Measure", "zh": "测量"},
    "step_measure_help": {"en": "After the launch: the Uplift page measures the change in ticket size.",
                          "zh": "上线后：在“提升”页测量客单变化。"},
    "copy_edited": {"en": "✏️ Copy written by the merchandiser (kept when the offer changes).",
                    "zh": "✏️ 文案由采销人员编写（修改优惠时保留）。"},
    "copy_regenerated": {"en": "The copy was written again for the changed offer; edit it to use your own.",
                         "zh": "文案已按修改后的优惠重新生成；可直接修改为自己的文案。"},
    "assumptions": {"en": "What these offers assume (no product master)", "zh": "这些套餐的假设（无商品主数据）"},
    "assumed_margin": {"en": "Assumed gross margin %", "zh": "假设毛利率 %"},
    "currency": {"en": "Currency", "zh": "币种"},
    "no_currency": {"en": "none (no symbol)", "zh": "无（不显示符号）"},
    "exclude_codes": {"en": "Non-product codes to exclude (fees, postage, adjustments; suspected ones ticked)",
                      "zh": "排除的非商品编码（费用、运费、调整；疑似项已勾选）"},
    "rebuild_offers": {"en": "Build the offers with these assumptions", "zh": "按这些假设生成套餐"},
    "offers_rebuilt": {"en": "{n:,} offers built.", "zh": "已生成 {n:,} 个套餐。"},
    "no_offers_why": {"en": "No offers for this run yet: {msg}", "zh": "此结果还没有套餐：{msg}"},
    "no_prices": {"en": "the receipts it was mined from are gone, so there are no prices to price offers with.",
                  "zh": "挖掘所用的小票文件已不存在，无法定价。"},
    "not_built_yet": {"en": "they have not been built; check the assumptions above and press the button.",
                      "zh": "尚未生成；请检查上方假设并点击按钮。"},
    "sort_by": {"en": "Sort rules by", "zh": "规则排序依据"},
    "rules_shown": {"en": "Showing the top {n:,} of {total:,} rules.", "zh": "显示 {total:,} 条规则中的前 {n:,} 条。"},
    "no_run_yet": {"en": "No mining run of **{name}** yet: mine it on the Mining page.",
                   "zh": "**{name}** 还没有挖掘结果：请在“挖掘”页运行。"},
}


def t(key: str, lang: str = "en", **fields) -> str:
    """The label ``key`` in ``lang`` (English when missing), formatted with ``fields``.

    >>> t("approve", "zh"), t("dates", "en", a="2025-01-01", b="2025-12-31")
    ('批准', 'Dates: **2025-01-01** to **2025-12-31**')
    >>> t("no such key")
    'no such key'
    """
    entry = LABELS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["en"]
    return text.format(**fields) if fields else text
