from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import pytest

from billing.domain.model import (
    BillCursor,
    BillDetails,
    BillQuery,
    FieldError,
    PaymentStatus,
    ProfileChanges,
    Registration,
    ValidationFailed,
)
from billing.domain.model.bill import parse_days
from billing.domain.model.clock import to_millis
from billing.domain.model.email import EmailError, normalize_email
from billing.domain.model.legacy import LegacyUser
from billing.domain.model.money import Money, MoneyError, parse_amount, parse_currency
from billing.domain.model.password import password_problem
from billing.domain.model.user import User
from billing.domain.use_cases.authenticate import Credentials

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


@pytest.mark.parametrize(
    ("raw", "expected"), [(Decimal("0.01"), "0.01"), (5, "5.00"), (Decimal("1000000000"), "1000000000.00")]
)
def test_amount_kept_exact_when_valid(raw: object, expected: str) -> None:
    assert str(parse_amount(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        Decimal("0.001"),
        Decimal("0"),
        Decimal("-1"),
        Decimal("1000000000.01"),
        True,
        "12.50",
        1.5,
        Decimal("NaN"),
        Decimal("1E+999999"),
    ],
)
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
    assert fields_of(exc) == {
        "vendor",
        "bill_date",
        "due_date",
        "amount_due",
        "currency",
        "categories",
        "payment_status",
    }


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


@pytest.mark.parametrize("days", [0, 31, True, "7", 7.5, 30.000001, float("nan"), float("inf"), Decimal("7.5"),
                                  Decimal("0.0"), Decimal("1E+999999"), Decimal("-Infinity")])
def test_registration_refuses_reminder_days_outside_1_to_30_with_the_field_error_clients_show(days: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        Registration.from_mapping({"first_name": "Jo", "last_name": "Doe", "email_address": "jo@example.com",
                                   "password": "Abcd1234!", "reminder_days": days})
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("reminder_days", "must be null or an integer from 1 to 30")]


@pytest.mark.parametrize(("days", "kept"), [(1, 1), (30, 30), (7.0, 7), (30.0, 30), (Decimal("25.0"), 25),
                                            (Decimal("1.000"), 1), (None, None)])
def test_registration_takes_reminder_days_as_json_schema_reads_an_integer(days: object, kept: int | None) -> None:
    registration = Registration.from_mapping({"first_name": "Jo", "last_name": "Doe", "email_address": "jo@example.com",
                                              "password": "Abcd1234!", "reminder_days": days})
    assert registration.reminder_days == kept and type(registration.reminder_days) is type(kept)


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


@pytest.mark.parametrize(
    ("raw", "ok"), [("0", True), ("365", True), ("366", False), ("-1", False), ("1.5", False), ("٣", False)]
)
def test_days_accepted_only_from_0_to_365(raw: str, ok: bool) -> None:
    if ok:
        assert parse_days(raw) == int(raw)
    else:
        with pytest.raises(ValidationFailed):
            parse_days(raw)


def password_of(length: int, head: str = "Ab1!") -> str:
    """A password meeting every rule but the length ones: `head`, then "xy" repeated, `length` characters."""
    return (head + "xy" * length)[:length]


@pytest.mark.parametrize(("length", "problem"), [
    (7, "must be 8 to 128 characters long"),
    (8, None),
    (72, None),
    (73, "must be at most 72 bytes in UTF-8"),
    (128, "must be at most 72 bytes in UTF-8"),  # within the length limit: the byte limit speaks
    (129, "must be 8 to 128 characters long"),
])
def test_password_length_judged_in_characters_then_in_bytes_when_at_the_limits(
    length: int, problem: str | None
) -> None:
    assert password_problem(password_of(length)) == problem


@pytest.mark.parametrize(("password", "problem"), [
    ("Ab1!" + "éü" * 17, None),  # 38 characters, 72 bytes
    ("Ab1!" + "éü" * 17 + "x", "must be at most 72 bytes in UTF-8"),  # 39 characters, 73 bytes
])
def test_password_bytes_counted_in_utf8_when_characters_are_multibyte(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


@pytest.mark.parametrize(("password", "problem"), [
    ("Abcd123!xx", None),
    ("Abcd123!xxx", "must not repeat a character three times in a row"),  # the triple at the very end
    ("aaaBcd123!", "must not repeat a character three times in a row"),  # at the very start
    ("abcd1234!", "must contain an upper-case letter (A-Z)"),
    ("ABCD1234!", "must contain a lower-case letter (a-z)"),
    ("Abcdefgh!", "must contain a digit (0-9)"),
    ("Abcdefg1", "must contain a character that is not a letter or digit (anything but a-z, A-Z, 0-9)"),
    (b"Abcd1234!", "must be a string"),
])
def test_password_problem_named_exactly_when_a_rule_is_broken(password: object, problem: str | None) -> None:
    assert password_problem(password) == problem


LONGEST_DOMAIN = "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".io"  # 189 characters: with 64 + "@", 254


@pytest.mark.parametrize(("address", "canonical"), [
    ("A" * 64 + "@Example.com", "a" * 64 + "@example.com"),
    ("a" * 64 + "@" + LONGEST_DOMAIN, "a" * 64 + "@" + LONGEST_DOMAIN),
])
def test_email_accepted_when_local_part_and_address_are_at_their_limits(address: str, canonical: str) -> None:
    assert normalize_email(address) == canonical


@pytest.mark.parametrize(("address", "message"), [
    ("a" * 65 + "@example.com", "must be a valid email address"),  # 65-character local part
    ("a" * 64 + "@" + LONGEST_DOMAIN + "x", "must be at most 254 characters"),  # 255 characters
    ("jo@example", "must be a valid email address"),
    (None, "must be a string"),
])
def test_email_refused_with_reason_when_past_a_limit_or_malformed(address: object, message: str) -> None:
    with pytest.raises(EmailError) as exc:
        normalize_email(address)
    assert str(exc.value) == message


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_bill_details_accepted_at_every_maximum() -> None:
    categories = ["c" * 100] + [f"c{i}" for i in range(49)]
    details = BillDetails.from_mapping(VALID_BILL | {"vendor": "v" * 255, "categories": categories})
    assert details.vendor == "v" * 255 and details.categories == tuple(categories)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"vendor": "v" * 256}, "vendor", "must be at most 255 characters"),
    ({"vendor": "   "}, "vendor", "must not be blank"),
    ({"vendor": 7}, "vendor", "must be a string"),
    ({"categories": [f"c{i}" for i in range(51)]}, "categories", "must hold at most 50 categories"),
    ({"categories": ["c" * 101]}, "categories", "must hold non-blank strings of at most 100 characters"),
    ({"categories": [" "]}, "categories", "must hold non-blank strings of at most 100 characters"),
    ({"categories": [3]}, "categories", "must hold non-blank strings of at most 100 characters"),
    ({"categories": "food"}, "categories", "must be an array of strings"),
    ({"categories": ["a", "a"]}, "categories", "must not repeat a category"),
    ({"bill_date": "2026-02-30"}, "bill_date", "must be a real calendar date (YYYY-MM-DD)"),
    ({"bill_date": "2026-1-01"}, "bill_date", "must be a date in the form YYYY-MM-DD"),
    ({"bill_date": 20261101}, "bill_date", "must be a date in the form YYYY-MM-DD"),
    ({"payment_status": "unpaid"}, "payment_status", "must be one of paid, due, past_due, no_payment_required"),
    ({"due_date": "2026-10-31"}, "due_date", "must not be before bill_date"),
    ({"amount_due": None}, "amount_due", "must be a number"),
])
def test_bill_details_refused_with_the_field_message_when_past_a_maximum_or_malformed(
        changes: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping(VALID_BILL | changes)
    assert errors_of(exc) == {field: message}


def test_bill_details_accepted_when_due_on_the_bill_date() -> None:
    assert BillDetails.from_mapping(VALID_BILL | {"due_date": "2026-11-01"}).due_date == date(2026, 11, 1)


def test_bill_details_name_each_missing_field_required() -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillDetails.from_mapping({"currency": "EUR"})
    assert errors_of(exc) == {
        f: "is required" for f in ("vendor", "bill_date", "due_date", "amount_due", "payment_status")
    }


@pytest.mark.parametrize(("limit", "expected"), [("1", 1), ("1000", 1000)])
def test_limit_accepted_from_1_to_1000(limit: str, expected: int) -> None:
    assert BillQuery.from_params({"limit": limit}).limit == expected


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "1.5", "", "٣", "ten"])
def test_limit_refused_with_the_range_when_outside_1_to_1000(limit: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillQuery.from_params({"limit": limit})
    assert errors_of(exc) == {"limit": "must be an integer from 1 to 1000"}


def test_days_refused_with_the_field_message_when_not_an_integer_from_0_to_365() -> None:
    for raw in ("366", "0365", "9" * 5000, "", "x"):
        with pytest.raises(ValidationFailed) as exc:
            parse_days(raw)
        assert errors_of(exc) == {"days": "must be an integer from 0 to 365"}


def test_limit_refused_with_the_range_when_too_many_digits_for_int() -> None:
    for raw in ("01000", "1" * 5000):
        with pytest.raises(ValidationFailed) as exc:
            BillQuery.from_params({"limit": raw})
        assert errors_of(exc) == {"limit": "must be an integer from 1 to 1000"}


def test_bill_query_leaves_unsent_filters_empty() -> None:
    assert BillQuery.from_params({}) == BillQuery()


def test_bill_query_names_each_bad_parameter_with_its_message() -> None:
    with pytest.raises(ValidationFailed) as exc:
        BillQuery.from_params({"cursor": "%%%", "due_after": "soon", "due_before": "2026-02-30", "payment_status": "x"})
    assert errors_of(exc) == {
        "cursor": "is not a cursor this service issued",
        "due_after": "must be a date in the form YYYY-MM-DD",
        "due_before": "must be a real calendar date (YYYY-MM-DD)",
        "payment_status": "must be one of paid, due, past_due, no_payment_required",
    }
    with pytest.raises(ValidationFailed) as exc:
        BillQuery.from_params({"cursor": 7})  # type: ignore[dict-item]
    assert errors_of(exc) == {"cursor": "must be a string"}


def test_cursor_is_url_safe_without_padding() -> None:
    for _ in range(20):
        token = BillCursor(date(2026, 1, 2), uuid4()).encode()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


@pytest.mark.parametrize("raw", [b"2026-01-02|" + str(uuid4()).encode() + b"|x", b"2026-01-02", b"\xff\xfe|x"])
def test_cursor_refused_when_not_a_date_and_an_id(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"^is not a cursor this service issued$"):
        BillCursor.decode(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_to_millis_truncates_to_the_millisecond_in_utc(local_zone_not_utc: None) -> None:
    moment = to_millis(datetime(2026, 11, 24, 12, 0, 0, 123999, tzinfo=timezone(timedelta(hours=2))))
    assert moment == datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=UTC) and moment.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match=r"^naive datetime: the domain works in aware UTC only$"):
        to_millis(datetime(2026, 11, 24))


def test_registration_keeps_each_field() -> None:
    registration = Registration.from_mapping(
        {"first_name": "Jo", "last_name": "Doe", "email_address": "Jo@Example.com", "password": "Abcd1234!"})
    assert registration == Registration("Jo", "Doe", "jo@example.com", "Abcd1234!")


def test_registration_names_each_field_with_its_message() -> None:
    with pytest.raises(ValidationFailed) as exc:
        Registration.from_mapping({"first_name": " ", "last_name": 3, "email_address": "nope", "password": "Abcd1234"})
    assert errors_of(exc) == {
        "first_name": "must not be blank",
        "last_name": "must be a string",
        "email_address": "must be a valid email address",
        "password": "must contain a character that is not a letter or digit (anything but a-z, A-Z, 0-9)",
    }


def test_profile_changes_keep_what_was_sent_and_leave_the_rest_unset() -> None:
    assert ProfileChanges.from_mapping({"last_name": "Roe"}, "me@example.com") == ProfileChanges(last_name="Roe")
    assert ProfileChanges.from_mapping({"first_name": "Jo", "password": "Abcd1234!"}, "me@example.com") == \
        ProfileChanges(first_name="Jo", password="Abcd1234!")
    assert repr(ProfileChanges().first_name) == "UNSET"


def test_profile_changes_name_each_field_with_its_message() -> None:
    with pytest.raises(ValidationFailed) as exc:
        ProfileChanges.from_mapping({"first_name": "", "last_name": "x" * 101, "password": "short",
                                     "email_address": "other@example.com"}, "me@example.com")
    assert errors_of(exc) == {"first_name": "must not be blank", "last_name": "must be at most 100 characters",
                              "password": "must be 8 to 128 characters long", "email_address": "cannot be changed"}
    with pytest.raises(ValidationFailed) as exc:
        ProfileChanges.from_mapping({"email_address": None}, "me@example.com")
    assert errors_of(exc) == {"email_address": "cannot be changed"}


def test_validation_failed_says_what_and_why() -> None:
    one = ValidationFailed(FieldError("a", "is bad"))
    assert one.errors == [FieldError("a", "is bad")] and one.detail == "The request is invalid."
    assert str(one) == "The request is invalid. a: is bad"
    two = ValidationFailed([FieldError("a", "is bad"), FieldError("b", "is worse")], "Nope.")
    assert two.detail == "Nope." and str(two) == "Nope. a: is bad; b: is worse"


@pytest.mark.parametrize(("raw", "message"), [
    ("12.50", "must be a number"),
    (True, "must be a number"),
    (Decimal("Infinity"), "must be a finite number"),
    (Decimal("1.001"), "must have at most two decimals"),
    (Decimal("1E+999999"), "must be a number between 0.01 and 1000000000"),
    (Decimal("0"), "must be between 0.01 and 1000000000"),
])
def test_amount_refused_with_its_message(raw: object, message: str) -> None:
    with pytest.raises(MoneyError, match=f"^{re.escape(message)}$"):
        parse_amount(raw)


@pytest.mark.parametrize("raw", ["usd", "XXX", 840, None])
def test_currency_refused_unless_an_active_iso_4217_code(raw: object) -> None:
    with pytest.raises(MoneyError, match=r"^must be an ISO 4217 currency code such as USD$"):
        parse_currency(raw)


def test_money_checks_amount_and_currency() -> None:
    assert Money(Decimal("1.50"), "EUR").currency == "EUR"
    with pytest.raises(MoneyError):
        Money(Decimal("0"))
    with pytest.raises(MoneyError):
        Money(Decimal("1"), "usd")


def test_password_refused_when_not_valid_unicode() -> None:
    assert password_problem("Abcd123!\ud800") == "must be valid Unicode text"  # a lone surrogate, as JSON can carry


def test_passwords_and_their_hashes_never_appear_in_a_repr() -> None:
    """A repr reaches logs and tracebacks (an exception's locals, a debugger): no secret in it."""
    secret, digest = "Sekret123!", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    shown = [
        Registration.from_mapping({"first_name": "Jo", "last_name": "Doe", "email_address": "jo@example.com",
                                   "password": secret}),
        ProfileChanges.from_mapping({"password": secret}, "jo@example.com"),
        Credentials(email_address="jo@example.com", password=secret, client_address="203.0.113.9"),
        User(id=uuid4(), first_name="Jo", last_name="Doe", email_address="jo@example.com", password_hash=digest,
             account_created=now, account_updated=now),
        LegacyUser(id="1", first_name="Jo", last_name="Doe", email_address="jo@example.com", password=digest,
                   account_created=now, account_updated=now),
    ]
    for value in shown:
        text = repr(value)
        assert secret not in text and digest not in text and text.startswith(type(value).__name__), text
