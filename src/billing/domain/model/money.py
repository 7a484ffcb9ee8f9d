"""Money: an exact Decimal amount with an ISO 4217 currency. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Active ISO 4217 codes (list of 2024). Kept here as data so the model stays standard-library only.
ISO_4217 = frozenset(
    [
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
        "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
        "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
        "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
        "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
        "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
        "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
        "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
        "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
        "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
        "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER",
        "ZAR", "ZMW", "ZWG", "ZWL",
    ]
)

MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")
CENT = Decimal("0.01")


class MoneyError(ValueError):
    """Raised with a human message when an amount or currency breaks the rules."""


def parse_amount(value: object) -> Decimal:
    """An amount from the wire: a JSON number (int or Decimal, never bool or str), 0.01..1e9, two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise MoneyError("must be a number")
    try:
        amount = Decimal(value)
        if not amount.is_finite():
            raise MoneyError("must be a finite number")
        if amount != amount.quantize(CENT):
            raise MoneyError("must have at most two decimals")
    except InvalidOperation as exc:  # quantize overflow on absurd exponents
        raise MoneyError("must be a number between 0.01 and 1000000000") from exc
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise MoneyError("must be between 0.01 and 1000000000")
    return amount.quantize(CENT)


def parse_currency(value: object) -> str:
    if not isinstance(value, str) or value not in ISO_4217:
        raise MoneyError("must be an ISO 4217 currency code such as USD")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        parse_amount(self.amount)
        parse_currency(self.currency)
