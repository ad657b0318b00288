"""Pricing policy: guardrails, allowed discount types and take-rate response curves.

In: a TOML policy file (see ``data/policy.example.toml``) or command-line flags.
Out: a frozen :class:`Policy` that :mod:`recommender.pricing` reads, and
:class:`ResponseCurve`, the assumed share of gap tickets that take a bundle
offer at a given discount.

TOML schema (every key optional; unknown keys are an error so typos do not pass
silently)::

    min_margin = 0.25            # bundle gross margin floor: price >= cost / (1 - min_margin)
    max_discount_pct = 0.30      # cap on the saving, as a share of the regular price
    min_saving_pct = 0.05        # smallest noticeable saving: floor on every offer's saving (a gift at its
                                 # shelf value) and no takers below it (q = 0)
    discount_types = ["percent_off", "set_price", "amount_off",
                      "addon_discount", "cheapest_free", "gift"]
    price_ending = ".9"          # ".9", ".99", "whole", "9" (e.g. 39, 89) or "none"
    grid_step = 0.01             # step of percent grids (share)
    amount_step = 1.0            # step of amount / set-price grids (currency units)
    calibration = 1.0            # factor on every take-rate curve (from measured launches)
    allow_stacking = false       # may two recommended offers in one store share an item?
    till_offers = true           # when no shelf offer pays, offer the add-on at the till to baskets without it
    assume_margin = 0.35         # gross margin assumed where the catalog has no unit cost
    currency = "CNY"             # ISO 4217 code of prices (else the catalog's or the run's; none: no symbol)
    keep_non_products = ["GIFTWRAP"]   # suspected non-products that may still be offered

    [aliases]                    # catalog department -> policy department
    "menswear" = "apparel"

    [departments.apparel]        # a curve and/or overrides for one department
    q0 = 0.02                    # take rate with a token discount
    q_max = 0.25                 # take rate the deepest discount approaches
    k = 8.0                      # steepness per unit of discount share
    calibration = 1.0
    min_margin = 0.30
    max_discount_pct = 0.35
    min_saving_pct = 0.08
    price_ending = "whole"
    discount_types = ["percent_off", "addon_discount"]
    assume_margin = 0.45

``min_saving_pct`` (default 0.05, i.e. 5% of the bundle's regular price) is
the smallest saving customers notice, and it plays two parts:

* the response model: a saving below it earns no extra takers, q(d) = 0 for
  d < min_saving_pct (:attr:`ResponseCurve.threshold`), whatever the curve;
* a floor: no offer may give less (every discount type, a gift included,
  whose saving is its shelf value to the customer). "Save 0.45 on 112.80"
  does not move a customer and looks absurd on a shelf card.

Set it to 0 to say customers notice any saving: the curve then applies from
the first grid step.

``assume_margin`` (default :data:`DEFAULT_ASSUMED_MARGIN`) fills the costs a
till export lacks: unit cost = regular price x (1 - assume_margin), per
department when a department overrides it. Every bundle row then says
``cost_source = "assumed"`` and the CLI, the exports and the dashboard say so.

The curve is q(d) = q0 + (q_max - q0) * (1 - exp(-k * d)) for d >= the
department's ``min_saving_pct`` and 0 below it, with d the saving as a share of
the bundle's regular price (a gift counted at its shelf value). The defaults (:data:`DEFAULT_CURVES`)
are assumptions to start from, not measurements: recalibrate them with
:func:`calibration_factor` once offers have run.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from recommender.errors import InputError

#: Discount types, in the order they are tried (and preferred on a tie).
DISCOUNT_TYPES = ("percent_off", "set_price", "amount_off", "addon_discount", "cheapest_free", "gift")
#: Price endings :mod:`recommender.pricing` knows: name -> (modulus, remainder) in cents.
PRICE_ENDINGS = {".9": (100, 90), ".99": (100, 99), "whole": (100, 0), "9": (1000, 900)}


@dataclass(frozen=True)
class ResponseCurve:
    """Share of gap tickets that take the offer, as a function of the discount share.

    Parameters
    ----------
    q0 : float
        Take rate at a token discount (the offer being shown at all).
    q_max : float
        Take rate approached as the discount deepens (``q0 <= q_max <= 1``).
    k : float
        Steepness: at ``d_pct = 1 / k`` about 63% of the way from q0 to q_max.
    threshold : float
        Smallest saving share customers notice (the policy's ``min_saving_pct``):
        below it nobody takes the offer because of it, q = 0. Default 0.

    Examples
    --------
    >>> c = ResponseCurve(0.02, 0.12, 10.0)
    >>> round(c.take_rate(0.0), 4), round(c.take_rate(0.1), 4)
    (0.02, 0.0832)
    >>> c.scaled(0.5).q_max
    0.06
    >>> n = ResponseCurve(0.02, 0.12, 10.0, threshold=0.05)
    >>> n.take_rate(0.049), round(n.take_rate(0.1), 4)
    (0.0, 0.0832)
    """

    q0: float
    q_max: float
    k: float
    threshold: float = 0.0

    def __post_init__(self):
        vals = (self.q0, self.q_max, self.k)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise ValueError(f"response curve parameters must be finite numbers, not {vals}")
        if not (0.0 <= self.q0 <= self.q_max <= 1.0):
            raise ValueError(f"need 0 <= q0 <= q_max <= 1, got q0={self.q0}, q_max={self.q_max}")
        if self.k <= 0:
            raise ValueError(f"k must be > 0, got {self.k}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0.0 <= t < 1.0):
            raise ValueError(f"threshold must be a saving share in [0, 1), not {t!r}")

    def take_rate(self, d_pct):
        """Expected take rate at discount share ``d_pct`` (scalar or array; negatives count as 0).

        0 below :attr:`threshold`: an unnoticed saving wins nobody.
        """
        d = np.maximum(np.asarray(d_pct, dtype="float64"), 0.0)
        q = self.q0 + (self.q_max - self.q0) * (1.0 - np.exp(-self.k * d))
        # the 1e-9 keeps a saving that sits on the threshold (rounded to cents) noticed
        q = np.where(d < self.threshold - 1e-9, 0.0, q)
        return float(q) if q.ndim == 0 else q

    def scaled(self, factor: float) -> "ResponseCurve":
        """Return the curve with q0 and q_max multiplied by ``factor`` (capped at 1), same threshold."""
        if not (math.isfinite(factor) and factor >= 0):
            raise ValueError(f"calibration factor must be a finite number >= 0, not {factor}")
        return ResponseCurve(min(1.0, self.q0 * factor), min(1.0, self.q_max * factor), self.k, self.threshold)

    def noticed_from(self, threshold: float) -> "ResponseCurve":
        """The same curve with another noticeable-saving threshold."""
        return replace(self, threshold=float(threshold))


#: Starting assumptions per department (replace with measured values).
#: Apparel responds most ("complete the look" sells), grocery least and
#: quickly saturates (small baskets, price-aware shoppers), pharmacy in between.
DEFAULT_CURVES = {
    "apparel": ResponseCurve(q0=0.02, q_max=0.25, k=8.0),
    "pharmacy": ResponseCurve(q0=0.03, q_max=0.20, k=6.0),
    "grocery": ResponseCurve(q0=0.01, q_max=0.12, k=10.0),
    "default": ResponseCurve(q0=0.02, q_max=0.15, k=7.0),
}

#: Common catalog department names mapped to the policy's departments.
DEFAULT_ALIASES = {
    "clothing": "apparel", "fashion": "apparel", "menswear": "apparel", "womenswear": "apparel",
    "服装": "apparel", "服饰": "apparel", "男装": "apparel", "女装": "apparel",
    "health": "pharmacy", "medicine": "pharmacy", "otc": "pharmacy", "drugstore": "pharmacy",
    "药品": "pharmacy", "药房": "pharmacy", "医药": "pharmacy",
    "food": "grocery", "supermarket": "grocery", "食品": "grocery", "超市": "grocery", "生鲜": "grocery",
}

_OVERRIDABLE = ("min_margin", "max_discount_pct", "min_saving_pct", "discount_types", "price_ending", "grid_step",
                "amount_step", "calibration", "assume_margin")
#: Gross margin assumed for an item without a unit cost: a middle-of-the-road retail margin (grocery runs
#: 25-30%, gifts and apparel 45-60%). With the 25% bundle margin floor it leaves room for savings up to
#: about 13%, above the 5% smallest noticeable saving; set the shop's own with --assume-margin.
DEFAULT_ASSUMED_MARGIN = 0.35
_CURVE_KEYS = ("q0", "q_max", "k")


def department_key(name) -> str:
    """Normalise a catalog department name for lookups (lower case, trimmed; '' if missing).

    >>> department_key("  Apparel "), department_key(None)
    ('apparel', '')
    """
    if name is None:
        return ""
    try:
        if name != name:  # NaN
            return ""
    except TypeError:  # pd.NA refuses comparison
        return ""
    return str(name).strip().lower()


@dataclass(frozen=True)
class Policy:
    """Guardrails and assumptions for pricing bundles.

    Parameters
    ----------
    min_margin : float
        Minimum gross margin of the bundle: price >= total cost / (1 - min_margin).
    max_discount_pct : float
        Largest saving allowed, as a share of the bundle's regular price.
    min_saving_pct : float
        Smallest saving customers notice, as a share of the bundle's regular
        price (default 0.05): no offer gives less (a gift counted at its shelf
        value), and the response curves give no takers below it.
    discount_types : tuple of str
        Which of :data:`DISCOUNT_TYPES` may be offered.
    price_ending : str or None
        One of :data:`PRICE_ENDINGS` or None (no rounding).
    grid_step : float
        Step of the percent grids searched for the best discount.
    amount_step : float
        Step, in currency units, of the amount-off and set-price grids.
    curves : mapping
        Department -> :class:`ResponseCurve`; ``"default"`` is used for any other.
    calibration : float
        Factor applied to every curve (measured take rate / predicted).
    departments : mapping
        Department -> overrides of the scalar fields above (including its own
        ``calibration``).
    aliases : mapping
        Catalog department name -> policy department name.
    allow_stacking : bool
        Whether two recommended offers in one store may share an item (default
        False: overlapping offers are one portfolio; the more profitable stays).
    till_offers : bool
        When no shelf offer pays because the tickets that already hold the set
        would take the discount too, offer the add-on at the till to baskets
        holding the anchor without it (:data:`recommender.pricing.TILL_TYPE`;
        default True).
    source : str, optional
        The file the policy was read from (None: built in code).
    sources : tuple of dict
        Where calibrated curves came from (``[[sources]]`` tables written by
        :mod:`recommender.calibrate`: launch ids, dates, the fit per department).
    assume_margin : float
        Gross margin assumed where the catalog has no unit cost (overridable per department).
    currency : str, optional
        ISO 4217 code of the prices.
    keep_non_products : tuple of str
        Suspected non-products (see :mod:`recommender.nonproducts`) that may still be offered.

    Examples
    --------
    >>> p = Policy(departments={"apparel": {"min_margin": 0.4}})
    >>> p.for_department("Apparel").min_margin, p.for_department("grocery").min_margin
    (0.4, 0.25)
    >>> p.curve_for("clothing") == DEFAULT_CURVES["apparel"].noticed_from(0.05)
    True
    """

    min_margin: float = 0.25
    max_discount_pct: float = 0.30
    min_saving_pct: float = 0.05
    discount_types: tuple = DISCOUNT_TYPES
    price_ending: str | None = None
    grid_step: float = 0.01
    amount_step: float = 1.0
    curves: Mapping = field(default_factory=lambda: dict(DEFAULT_CURVES))
    calibration: float = 1.0
    departments: Mapping = field(default_factory=dict)
    aliases: Mapping = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    allow_stacking: bool = False
    till_offers: bool = True
    source: str | None = None
    sources: tuple = ()
    assume_margin: float = DEFAULT_ASSUMED_MARGIN
    currency: str | None = None
    keep_non_products: tuple = ()

    def __post_init__(self):
        _check_scalars(self.__dict__, "policy")
        if self.currency is not None:
            from recommender.money import check_currency

            try:
                object.__setattr__(self, "currency", check_currency(self.currency))
            except InputError as exc:
                raise ValueError(str(exc)) from None
        object.__setattr__(self, "keep_non_products", tuple(str(x) for x in self.keep_non_products))
        if "default" not in self.curves:
            raise ValueError("policy curves need a 'default' curve")
        for dept, over in self.departments.items():
            bad = set(over) - set(_OVERRIDABLE)
            if bad:
                raise ValueError(f"department {dept!r}: cannot override {sorted(bad)}")
            _check_scalars(over, f"department {dept!r}")

    def department(self, name) -> str:
        """The policy department for a catalog department name ('default' if unknown)."""
        key = department_key(name)
        key = department_key(self.aliases.get(key, key))
        if key in self.curves or key in self.departments:
            return key
        return "default"

    def curve_for(self, name) -> ResponseCurve:
        """The calibrated response curve for a catalog department, zero below its ``min_saving_pct``."""
        dept = self.department(name)
        curve = self.curves.get(dept, self.curves["default"])
        flat = self.for_department(name)
        return curve.scaled(flat.calibration).noticed_from(flat.min_saving_pct)

    def for_department(self, name) -> "Policy":
        """This policy with the department's overrides applied (global calibration times its own)."""
        over = dict(self.departments.get(self.department(name), {}))
        if "calibration" in over:
            over["calibration"] = self.calibration * over["calibration"]
        if "discount_types" in over:
            over["discount_types"] = tuple(over["discount_types"])
        # The result is flat (no department table) so resolving it again is a no-op.
        return replace(self, departments={}, **over)


def _check_scalars(values: Mapping, where: str) -> None:
    def num(key, lo, hi, lo_open=False):
        if key not in values:
            return
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{where}: {key} must be a number, not {v!r}")
        if v < lo or v > hi or (lo_open and v == lo):
            raise ValueError(f"{where}: {key} must be in {'(' if lo_open else '['}{lo}, {hi}], not {v}")

    num("min_margin", 0.0, 0.99)
    num("max_discount_pct", 0.0, 1.0, lo_open=True)
    num("min_saving_pct", 0.0, 0.99)
    num("grid_step", 0.0, 1.0, lo_open=True)
    num("amount_step", 0.0, 1e9, lo_open=True)
    num("calibration", 0.0, 1e3)
    num("assume_margin", 0.0, 0.99)
    if "discount_types" in values:
        types = values["discount_types"]
        if isinstance(types, str) or not all(t in DISCOUNT_TYPES for t in types) or not types:
            raise ValueError(f"{where}: discount_types must be a non-empty list of {', '.join(DISCOUNT_TYPES)}; "
                             f"got {types!r}")
    if "price_ending" in values and values["price_ending"] is not None:
        if values["price_ending"] not in PRICE_ENDINGS:
            raise ValueError(f"{where}: price_ending must be one of {', '.join(PRICE_ENDINGS)} or none, "
                             f"not {values['price_ending']!r}")


def _ending(value):
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return str(value).strip()


def policy_from_mapping(data: Mapping, path=None) -> Policy:
    """Build a :class:`Policy` from a parsed TOML mapping (see the module docstring).

    >>> p = policy_from_mapping({"min_margin": 0.3, "departments": {"grocery": {"q_max": 0.1}}})
    >>> p.min_margin, p.curves["grocery"].q_max, p.curves["grocery"].q0
    (0.3, 0.1, 0.01)
    """
    top_keys = set(_OVERRIDABLE) | {"departments", "aliases", "sources", "allow_stacking", "till_offers", "currency",
                                    "keep_non_products"}
    unknown = set(data) - top_keys
    if unknown:
        raise InputError(f"unknown policy keys {sorted(unknown)}", path=path,
                         hint=f"known keys: {', '.join(sorted(top_keys))}")
    kwargs = {k: data[k] for k in _OVERRIDABLE if k in data}
    if "currency" in data:
        kwargs["currency"] = data["currency"] or None
    if "keep_non_products" in data:
        keep = data["keep_non_products"]
        kwargs["keep_non_products"] = tuple([keep] if isinstance(keep, str) else keep)
    if "price_ending" in kwargs:
        kwargs["price_ending"] = _ending(kwargs["price_ending"])
    if "discount_types" in kwargs:
        kwargs["discount_types"] = tuple(kwargs["discount_types"])
    curves = dict(DEFAULT_CURVES)
    overrides = {}
    for name, table in dict(data.get("departments", {})).items():
        dept = department_key(name)
        if not isinstance(table, Mapping):
            raise InputError(f"[departments.{name}] must be a table", path=path)
        unknown = set(table) - set(_OVERRIDABLE) - set(_CURVE_KEYS)
        if unknown:
            raise InputError(f"[departments.{name}]: unknown keys {sorted(unknown)}", path=path,
                             hint=f"known keys: {', '.join(_CURVE_KEYS + _OVERRIDABLE)}")
        if any(k in table for k in _CURVE_KEYS):
            base = curves.get(dept, curves["default"])
            try:
                curves[dept] = ResponseCurve(float(table.get("q0", base.q0)), float(table.get("q_max", base.q_max)),
                                             float(table.get("k", base.k)))
            except (TypeError, ValueError) as exc:
                raise InputError(f"[departments.{name}]: {exc}", path=path) from None
        over = {k: table[k] for k in _OVERRIDABLE if k in table}
        if "price_ending" in over:
            over["price_ending"] = _ending(over["price_ending"])
        if over:
            overrides[dept] = over
    aliases = dict(DEFAULT_ALIASES)
    aliases.update({department_key(k): department_key(v) for k, v in dict(data.get("aliases", {})).items()})
    for key in ("allow_stacking", "till_offers"):
        if key in data:
            if not isinstance(data[key], bool):
                raise InputError(f"{key} must be true or false", path=path)
            kwargs[key] = data[key]
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, Mapping) for x in sources):
        raise InputError("sources must be a list of tables ([[sources]])", path=path)
    try:
        return Policy(curves=curves, departments=overrides, aliases=aliases, sources=tuple(dict(x) for x in sources),
                      source=None if path is None else str(path), **kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc), path=path, hint="see data/policy.example.toml") from None


def load_policy(path) -> Policy:
    """Read a TOML policy file (schema in the module docstring).

    Raises :class:`~recommender.errors.InputError` for a missing file, bad TOML,
    unknown keys or out-of-range values.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("policy file not found", path=p, hint="see data/policy.example.toml")
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p) from None
    except UnicodeDecodeError:
        raise InputError("not valid TOML: the file is not UTF-8 text", path=p) from None
    return policy_from_mapping(data, path=p)


def policy_from_flags(base: Policy | None = None, *, min_margin=None, max_discount=None, discount_types=None,
                      price_ending=None, grid_step=None, amount_step=None, calibration=None,
                      min_saving=None, assume_margin=None, currency=None, keep_non_products=None) -> Policy:
    """Return ``base`` (default :class:`Policy`) with the command-line flags that were given.

    ``discount_types`` may be a comma-separated string; ``price_ending="none"``
    switches rounding off. Flags override the global values only (department
    overrides in a policy file still apply).

    >>> policy_from_flags(min_margin=0.3, discount_types="percent_off,gift").discount_types
    ('percent_off', 'gift')
    >>> policy_from_flags(min_saving=0.1).min_saving_pct
    0.1
    """
    base = base or Policy()
    changes = {}
    if min_margin is not None:
        changes["min_margin"] = float(min_margin)
    if max_discount is not None:
        changes["max_discount_pct"] = float(max_discount)
    if min_saving is not None:
        changes["min_saving_pct"] = float(min_saving)
    if discount_types is not None:
        if isinstance(discount_types, str):
            discount_types = [t.strip() for t in discount_types.split(",") if t.strip()]
        changes["discount_types"] = tuple(discount_types)
    if price_ending is not None:
        changes["price_ending"] = _ending(price_ending)
    if grid_step is not None:
        changes["grid_step"] = float(grid_step)
    if amount_step is not None:
        changes["amount_step"] = float(amount_step)
    if calibration is not None:
        changes["calibration"] = float(calibration)
    if assume_margin is not None:
        changes["assume_margin"] = float(assume_margin)
    if currency is not None:
        changes["currency"] = currency
    if keep_non_products is not None:
        changes["keep_non_products"] = tuple(keep_non_products)
    try:
        return replace(base, **changes)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc), hint="check the pricing flags") from None


def calibration_factor(launches) -> float:
    """Measured / predicted takers over past launches, the factor for :meth:`ResponseCurve.scaled`.

    Parameters
    ----------
    launches : iterable of (takers, predicted_takers)
        Counts per launched offer: tickets that took it, and the prediction
        (take rate times gap tickets) made when it was priced.

    >>> calibration_factor([(30, 40.0), (10, 20.0)])
    0.6666666666666666
    """
    takers = predicted = 0.0
    for took, pred in launches:
        takers += float(took)
        predicted += float(pred)
    if predicted <= 0:
        raise ValueError("no predicted takers to calibrate against")
    return takers / predicted


def policy_to_mapping(policy: Policy) -> dict:
    """The TOML mapping that :func:`policy_from_mapping` reads back into an equal policy.

    >>> p = policy_from_mapping({"min_margin": 0.3, "departments": {"grocery": {"q_max": 0.1, "min_margin": 0.4}}})
    >>> q = policy_from_mapping(policy_to_mapping(p))
    >>> q.curves == p.curves and q.departments == p.departments and q.min_margin == 0.3
    True
    """
    defaults = Policy()
    out: dict = {}
    for key in _OVERRIDABLE:
        value = getattr(policy, key)
        if key == "price_ending":
            value = "none" if value is None else value
        elif key == "discount_types":
            value = list(value)
        out[key] = value
    depts: dict = {}
    for name, curve in policy.curves.items():
        if name != "default" or curve != DEFAULT_CURVES["default"]:
            if DEFAULT_CURVES.get(name) != curve:
                depts.setdefault(name, {}).update(q0=curve.q0, q_max=curve.q_max, k=curve.k)
    for name, over in policy.departments.items():
        table = depts.setdefault(name, {})
        for k, v in over.items():
            table[k] = list(v) if k == "discount_types" else ("none" if k == "price_ending" and v is None else v)
    if depts:
        out["departments"] = depts
    extra = {k: v for k, v in policy.aliases.items() if defaults.aliases.get(k) != v}
    if extra:
        out["aliases"] = extra
    if policy.allow_stacking:
        out["allow_stacking"] = True
    if not policy.till_offers:
        out["till_offers"] = False
    if policy.currency:
        out["currency"] = policy.currency
    if policy.keep_non_products:
        out["keep_non_products"] = list(policy.keep_non_products)
    if policy.sources:
        out["sources"] = [dict(x) for x in policy.sources]
    return out


def policy_from_fields(fields: Mapping | None) -> Policy:
    """The :class:`Policy` a run recorded (``dataclasses.asdict`` of it, as the manifest stores it).

    The dashboard re-prices an offer with the policy of the run it came from, not the defaults. Missing or
    unreadable fields give the defaults (a run made before policies were recorded).

    >>> from dataclasses import asdict
    >>> p = Policy(min_margin=0.4, departments={"grocery": {"max_discount_pct": 0.1}})
    >>> policy_from_fields(asdict(p)) == p
    True
    >>> policy_from_fields(None) == Policy()
    True
    """
    if not isinstance(fields, Mapping):
        return Policy()
    names = {f for f in Policy.__dataclass_fields__}
    kw = {k: v for k, v in fields.items() if k in names}
    if isinstance(kw.get("curves"), Mapping):
        kw["curves"] = {str(k): ResponseCurve(**{x: c[x] for x in ("q0", "q_max", "k", "threshold") if x in c})
                        for k, c in kw["curves"].items()}
    for key in ("discount_types", "keep_non_products"):
        if key in kw and kw[key] is not None:
            kw[key] = tuple(kw[key])
    if "sources" in kw:
        kw["sources"] = tuple(dict(x) for x in kw["sources"] or ())
    try:
        return Policy(**kw)
    except (TypeError, ValueError):
        return Policy()
