from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from billing.domain.model import BillCursor, BillDetails, BillQuery, PaymentStatus, ProfileChanges, Registration, ValidationFailed
from billing.domain.model.bill import parse_days
from billing.domain.model.email import EmailError, normalize_email
from billing.domain.model.money import MoneyError, parse_amount
from billing.domain.model.password import password_problem

VALID_BILL = {
    "vendor": "Northwind Power",
    "bill_date": "2026-11-01",
    "due_date": "2026-11-30",
    "amount_due": Decimal("120.50"),
    "payment_status": "due",
}


def fields_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {e.field for e in exc.value.errors}


@pytest.mark.parametrize("password", ["Abcd1234!", "xY9#xY9#", "Pässwörd1!"])
def test_password_accepted_when_it_meets_the_policy(password: str) -> None:
    assert password_problem(password) is None


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Abcdefg1", "not a letter or digit"),
        ("abcd1234!", "upper-case"),
        ("ABCD1234!", "lower-case"),
        ("Abcdefgh!", "digit"),
        ("Abc1!", "8 to 128"),
        ("Aaaa1234!", "three times"),
        ("Ab1!" + "é" * 40, "72 bytes"),
        (12345678, "string"),
    ],
)
def test_password_refused_with_reason_when_it_breaks_the_policy(password: object, why: str) -> None:
    problem = password_problem(password)
    assert problem is not None and why in problem


def test_email_normalised_to_lower_case() -> None:
    assert normalize_email("Jane.Doe+bills@Example.COM") == "jane.doe+bills@example.com"


@pytest.mark.parametrize("value", ["plain", "a@b", "a b@c.io", "a@-c.io", "@c.io", "a@c..io", 3, "x" * 250 + "@c.io"])
def test_email_refused_when_not_an_address(value: object) -> None:
    with pytest.raises(EmailError):
        normalize_email(value)


@pytest.mark.parametrize(("raw", "expected"), [(Decimal("0.01"), "0.01"), (5, "5.00"), (Decimal("1000000000"), "1000000000.00")])
def test_amount_kept_exact_when_valid(raw: object, expected: str) -> None:
    assert str(parse_amount(raw)) == expected


@pytest.mark.parametrize("raw", [Decimal("0.001"), Decimal("0"), Decimal("-1"), Decimal("1000000000.01"), True, "12.50", 1.5,
                                 Decimal("NaN"), Decimal("1E+999999")])
def test_amount_refused_when_not_a_two_decimal_number_in_range(raw: object) -> None:
    with pytest.raises(MoneyError):
        parse_amount(raw)


def test_bill_details_defaults_currency_and_categories() -> None:
    details = BillDetails.from_mapping(VALID_BILL)
    assert details.currency == "USD"
    assert details.categories == ()
    assert details.payment_status is PaymentStatus.DUE
    assert details.amount_due == Decimal("120.50")


def test_bill_details_accepts_the_camel_case_status_alias() -> None:
    data = {k: v for k, v in VALID_BILL.items() if k != "payment_status"} | {"paymentStatus": "paid"}
    assert BillDetails.from_mapping(data).payment_status is PaymentStatus.PAID


def test_bill_details_reports_every_bad_field_at_once() -> None:
    bad = {"vendor": " ", "bill_date": "2026-02-30", "due_date": "20261130", "amount_due": "12", "currency": "usd",
           "categories": ["a", "a"], "payment_status": "unpaid"}
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping(bad)
    assert fields_of(exc) == {"vendor", "bill_date", "due_date", "amount_due", "currency", "categories", "payment_status"}


def test_bill_details_refused_when_due_before_bill_date() -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping(VALID_BILL | {"due_date": "2026-10-01"})
    assert fields_of(exc) == {"due_date"}


def test_bill_details_refused_when_required_fields_missing() -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping({})
    assert fields_of(exc) == {"vendor", "bill_date", "due_date", "amount_due", "payment_status"}


@pytest.mark.parametrize("categories", [["x"] * 51, [""], ["a" * 101], "food", [1]])
def test_categories_refused_when_not_a_short_list_of_unique_strings(categories: object) -> None:
    if categories == ["x"] * 51:
        categories = [f"c{i}" for i in range(51)]
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping(VALID_BILL | {"categories": categories})
    assert fields_of(exc) == {"categories"}


def test_registration_refused_when_fields_missing_or_wrong() -> None:
    with pytest.raises(ValidationFailed) as exc:
        Registration.from_mapping({"first_name": "", "email_address": "nope", "password": "short"})
    assert fields_of(exc) == {"first_name", "last_name", "email_address", "password"}


def test_profile_changes_refuse_a_different_email() -> None:
    with pytest.raises(ValidationFailed) as exc:
        ProfileChanges.from_mapping({"email_address": "other@example.com"}, "me@example.com")
    assert fields_of(exc) == {"email_address"}


def test_profile_changes_accept_the_same_email_in_any_case() -> None:
    changes = ProfileChanges.from_mapping({"email_address": "ME@example.com", "first_name": "Jo"}, "me@example.com")
    assert changes.first_name == "Jo"


def test_cursor_round_trips_and_rejects_garbage() -> None:
    cursor = BillCursor(date(2026, 1, 2), uuid4())
    assert BillCursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValueError):
        BillCursor.decode("not-a-cursor")


def test_bill_query_parses_filters_and_refuses_bad_ones() -> None:
    query = BillQuery.from_params({"payment_status": "paid", "due_before": "2026-12-31", "limit": "10"})
    assert query.payment_status is PaymentStatus.PAID and query.due_before == date(2026, 12, 31) and query.limit == 10
    with pytest.raises(ValidationFailed) as exc:
        BillQuery.from_params({"limit": "0", "cursor": "%%%", "due_after": "soon", "payment_status": "x"})
    assert fields_of(exc) == {"limit", "cursor", "due_after", "payment_status"}


@pytest.mark.parametrize(("raw", "ok"), [("0", True), ("365", True), ("366", False), ("-1", False), ("1.5", False), ("٣", False)])
def test_days_accepted_only_from_0_to_365(raw: str, ok: bool) -> None:
    if ok:
        assert parse_days(raw) == int(raw)
    else:
        with pytest.raises(ValidationFailed):
            parse_days(raw)
