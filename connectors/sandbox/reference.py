"""Reference data the simulated customs, tax and carrier systems look things up in.

Real-looking on purpose (actual HS headings, VAT rates as of 2024, plausible parcel weights),
so demos and tests read like real orders; small on purpose, so it stays obvious what the
sandbox can answer.
"""

from __future__ import annotations

from decimal import Decimal

# EU member states: one customs union (no export declaration inside it) and one VAT area.
EU = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())

# SKU -> (HS code, customs description, tax category, shipping weight in grams).
PRODUCTS: dict[str, tuple[str, str, str, int]] = {
    "SKU-1001": ("090121", "Roasted coffee beans, not decaffeinated", "food", 1_050),
    "SKU-1002": ("090121", "Roasted ground coffee, not decaffeinated", "food", 530),
    "SKU-1003": ("090210", "Green tea in packings of 3 kg or less", "food", 220),
    "SKU-1004": ("691200", "Ceramic tableware (mug)", "standard", 420),
    "SKU-1005": ("732393", "Stainless steel travel mug", "standard", 380),
    "SKU-1006": ("691200", "Ceramic coffee dripper", "standard", 450),
    "SKU-1007": ("482320", "Filter paper, cut to shape", "standard", 150),
    "SKU-1008": ("850940", "Electric coffee grinder, household", "standard", 2_300),
    "SKU-1009": ("850940", "Electric milk frother, household", "standard", 600),
    "SKU-1010": ("851671", "Electric kettle", "standard", 1_200),
    "SKU-1011": ("842310", "Kitchen scale", "standard", 500),
    "SKU-1012": ("701337", "Glass coffee press", "standard", 900),
    "SKU-1013": ("701349", "Glass cold brew jar", "standard", 1_100),
    "SKU-1014": ("340290", "Descaling preparation", "standard", 300),
    "SKU-1015": ("960390", "Cleaning brushes", "standard", 200),
    "SKU-1016": ("220299", "Oat drink, non-alcoholic", "food", 1_080),
    "SKU-1017": ("180500", "Cocoa powder, unsweetened", "food", 280),
    "SKU-1018": ("190590", "Biscuits (biscotti)", "food", 230),
    "SKU-1019": ("490700", "Gift card (voucher)", "voucher", 20),
    "SKU-1020": ("621142", "Apron of cotton", "standard", 250),
    "SKU-OUT": ("850940", "Electric coffee grinder, limited edition", "standard", 2_500),
}
DEFAULT_WEIGHT_GRAMS = 500

# Destination VAT / sales tax: country -> rate class -> rate; countries with regional taxes nest one level more.
# Rate classes: "standard", "reduced" (food, books); vouchers are not taxed when sold (taxed on redemption).
TaxTable = dict[str, Decimal]
TAX_RATES: dict[str, TaxTable | dict[str, TaxTable]] = {
    "DE": {"standard": Decimal("0.19"), "reduced": Decimal("0.07")},
    "AT": {"standard": Decimal("0.20"), "reduced": Decimal("0.10")},
    "FR": {"standard": Decimal("0.20"), "reduced": Decimal("0.055")},
    "NL": {"standard": Decimal("0.21"), "reduced": Decimal("0.09")},
    "BE": {"standard": Decimal("0.21"), "reduced": Decimal("0.06")},
    "IT": {"standard": Decimal("0.22"), "reduced": Decimal("0.10")},
    "ES": {"standard": Decimal("0.21"), "reduced": Decimal("0.10")},
    "PL": {"standard": Decimal("0.23"), "reduced": Decimal("0.05")},
    "SE": {"standard": Decimal("0.25"), "reduced": Decimal("0.12")},
    "DK": {"standard": Decimal("0.25"), "reduced": Decimal("0.25")},
    "IE": {"standard": Decimal("0.23"), "reduced": Decimal("0.135")},
    "GB": {"standard": Decimal("0.20"), "reduced": Decimal("0")},
    "CH": {"standard": Decimal("0.081"), "reduced": Decimal("0.026")},
    "NO": {"standard": Decimal("0.25"), "reduced": Decimal("0.15")},
    "JP": {"standard": Decimal("0.10"), "reduced": Decimal("0.08")},
    "US": {
        "CA": {"standard": Decimal("0.0725"), "reduced": Decimal("0")},
        "NY": {"standard": Decimal("0.04"), "reduced": Decimal("0")},
        "TX": {"standard": Decimal("0.0625"), "reduced": Decimal("0")},
        "WA": {"standard": Decimal("0.065"), "reduced": Decimal("0")},
        "FL": {"standard": Decimal("0.06"), "reduced": Decimal("0")},
        "OR": {"standard": Decimal("0"), "reduced": Decimal("0")},
    },
    "CA": {
        "ON": {"standard": Decimal("0.13"), "reduced": Decimal("0")},
        "QC": {"standard": Decimal("0.14975"), "reduced": Decimal("0")},
        "BC": {"standard": Decimal("0.12"), "reduced": Decimal("0")},
        "AB": {"standard": Decimal("0.05"), "reduced": Decimal("0")},
    },
}
# Item category (as sent, or the product's own) -> rate class; anything else is "standard".
CATEGORY_RATE_CLASS = {"food": "reduced", "books": "reduced", "voucher": "exempt", "gift_card": "exempt"}

# Screening list excerpt (sandbox names, not real persons or companies): ids and normalised names.
DENIED_PARTY_IDS = frozenset({"C-DENIED", "C-SANCTIONED-01"})
DENIED_PARTY_NAMES = frozenset({"denied trading ltd", "embargo imports llc", "blocked shipping co"})
SCREENING_LIST = "consolidated sanctions list (sandbox excerpt)"

# Carrier -> (service, zone -> (base price EUR, price per started kg, transit days) or None when not served).
Rate = tuple[Decimal, Decimal, int]
CARRIER_RATES: dict[str, tuple[str, dict[str, Rate | None]]] = {
    "DHL": (
        "parcel",
        {
            "domestic": (Decimal("4.99"), Decimal("0.60"), 2),
            "eu": (Decimal("13.99"), Decimal("1.50"), 4),
            "world": (Decimal("39.99"), Decimal("6.00"), 7),
        },
    ),
    "UPS": (
        "express",
        {
            "domestic": (Decimal("8.90"), Decimal("0.90"), 1),
            "eu": (Decimal("19.90"), Decimal("2.40"), 2),
            "world": (Decimal("54.90"), Decimal("8.50"), 3),
        },
    ),
    "DPD": (
        "classic",
        {
            "domestic": (Decimal("4.49"), Decimal("0.50"), 2),
            "eu": (Decimal("11.49"), Decimal("1.30"), 4),
            "world": None,
        },
    ),
}
TRACKING_STATUSES = (
    "label_created",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
    "returned",
)


def zone(origin: str, destination: str) -> str:
    if origin == destination:
        return "domestic"
    return "eu" if origin in EU and destination in EU else "world"
