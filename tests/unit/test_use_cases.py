from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from billing.domain.model import (
    Attachment,
    AuthenticationFailed,
    BillCursor,
    BillQuery,
    BillView,
    NotFound,
    ServiceUnavailable,
    User,
    ValidationFailed,
)
from billing.domain.model.throttle import RegistrationRules, SignInRules
from billing.domain.use_cases.authenticate import Authenticate, Credentials
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.delete_bill import DeleteBill, DeleteBillCommand
from billing.domain.use_cases.get_own_bill import GetOwnBill, GetOwnBillCommand
from billing.domain.use_cases.list_own_bills import (
    ListOwnBills,
    ListOwnBillsCommand,
    OwnBills,
)
from billing.domain.use_cases.register_user import RegisterUser, RegisterUserCommand
from billing.domain.use_cases.throttle import Throttle
from billing.domain.use_cases.update_bill import UpdateBill, UpdateBillCommand
from billing.domain.use_cases.update_profile import UpdateProfile, UpdateProfileCommand
from tests.fakes import (
    FakeClock,
    FakeFileStore,
    FakePasswordHasher,
    FakeReadOnlyUnitOfWork,
    FakeUnitOfWork,
    Tables,
)

PASSWORD = "Abcd1234!"
BILL = {"vendor": "Acme", "bill_date": "2026-11-01", "due_date": "2026-11-20", "amount_due": Decimal("10.5"),
        "payment_status": "due"}


@pytest.fixture
def uow(tables: Tables) -> FakeUnitOfWork:
    return FakeUnitOfWork(tables)


def authenticator(uow: FakeUnitOfWork, hasher: FakePasswordHasher, clock: FakeClock,
                  reads: FakeReadOnlyUnitOfWork | None = None) -> Authenticate:
    """Authenticate as the container wires it: the throttle on the same (fake) database."""
    return Authenticate(uow, hasher, clock, Throttle(lambda: uow, clock), SignInRules(), reads=reads)


def registrar(uow: FakeUnitOfWork, hasher: FakePasswordHasher, clock: FakeClock) -> RegisterUser:
    return RegisterUser(uow, hasher, clock, Throttle(lambda: uow, clock), RegistrationRules())


async def register(
    uow: FakeUnitOfWork, hasher: FakePasswordHasher, clock: FakeClock, email: str = "Jo@Example.com"
) -> User:
    fields = {"first_name": "Jo", "last_name": "Doe", "email_address": email, "password": PASSWORD}
    return await registrar(uow, hasher, clock).execute(RegisterUserCommand(fields=fields))


async def test_user_stored_with_lower_case_email_and_hash_when_registered(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    stored = tables.users[user.id]
    assert stored.email_address == "jo@example.com"
    assert stored.password_hash == f"fake${PASSWORD}"
    assert stored.account_created == clock.now()


async def test_registration_refused_when_email_taken_in_any_case(uow, hasher, clock, tables) -> None:
    await register(uow, hasher, clock)
    with pytest.raises(ValidationFailed) as exc:
        await register(uow, hasher, clock, email="JO@EXAMPLE.COM")
    assert [e.field for e in exc.value.errors] == ["email_address"]
    assert len(tables.users) == 1


async def test_authenticate_matches_email_case_insensitively(uow, hasher, clock) -> None:
    user = await register(uow, hasher, clock)
    found = await authenticator(uow, hasher, clock).execute(
        Credentials(email_address="JO@example.com", password=PASSWORD)
    )
    assert found.id == user.id


@pytest.mark.parametrize(
    ("email", "password"),
    [("jo@example.com", "Wrong123!"), ("nobody@example.com", PASSWORD), ("not an email", PASSWORD)],
)
async def test_authenticate_fails_when_credentials_do_not_match(uow, hasher, clock, email, password) -> None:
    await register(uow, hasher, clock)
    with pytest.raises(AuthenticationFailed):
        await authenticator(uow, hasher, clock).execute(Credentials(email_address=email, password=password))


async def test_unknown_account_still_costs_a_verification(uow, hasher, clock) -> None:
    with pytest.raises(AuthenticationFailed):
        await authenticator(uow, hasher, clock).execute(
            Credentials(email_address="ghost@example.com", password=PASSWORD)
        )
    assert hasher.decoy_checks == 1


async def test_legacy_hash_replaced_after_successful_login(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    tables.users[user.id].password_hash = f"legacy${PASSWORD}"
    clock.advance(minutes=5)
    await authenticator(uow, hasher, clock).execute(Credentials(email_address="jo@example.com", password=PASSWORD))
    assert tables.users[user.id].password_hash == f"fake${PASSWORD}"
    assert tables.users[user.id].account_updated == clock.now()


async def test_old_password_refused_when_profile_changes_it(uow, hasher, clock) -> None:
    user = await register(uow, hasher, clock)
    command = UpdateProfileCommand(user=user, fields={"password": "Newpass99$", "last_name": "Roe"})
    updated = await UpdateProfile(uow, hasher, clock).execute(command)
    assert updated.last_name == "Roe" and updated.first_name == "Jo"
    authenticate = authenticator(uow, hasher, clock)
    with pytest.raises(AuthenticationFailed):
        await authenticate.execute(Credentials(email_address="jo@example.com", password=PASSWORD))
    assert (
        await authenticate.execute(Credentials(email_address="jo@example.com", password="Newpass99$"))
    ).id == user.id


async def test_bill_lifecycle_when_owner_creates_updates_and_deletes(uow, clock, tables) -> None:
    owner = uuid4()
    bill = await CreateBill(uow, clock).execute(CreateBillCommand(owner_id=owner, fields=BILL))
    assert tables.bills[bill.id].details.amount_due == Decimal("10.50")
    clock.advance(seconds=3)
    await UpdateBill(uow, clock).execute(
        UpdateBillCommand(owner_id=owner, bill_id=bill.id, fields=BILL | {"vendor": "Other"})
    )
    stored = tables.bills[bill.id]
    assert stored.details.vendor == "Other" and stored.updated_ts > stored.created_ts
    await DeleteBill(uow, FakeFileStore()).execute(DeleteBillCommand(owner_id=owner, bill_id=bill.id))
    assert tables.bills == {}


async def test_another_owners_bill_is_not_found_for_every_operation(uow, clock, tables) -> None:
    bill = await CreateBill(uow, clock).execute(CreateBillCommand(owner_id=uuid4(), fields=BILL))
    stranger = uuid4()  # reading another owner's bill: test_own_bill_read_with_the_caller_only_when_...
    with pytest.raises(NotFound):
        await UpdateBill(uow, clock).execute(UpdateBillCommand(owner_id=stranger, bill_id=bill.id, fields=BILL))
    with pytest.raises(NotFound):
        await DeleteBill(uow, FakeFileStore()).execute(DeleteBillCommand(owner_id=stranger, bill_id=bill.id))
    assert bill.id in tables.bills


async def test_invalid_bill_writes_nothing(uow, clock, tables) -> None:
    with pytest.raises(ValidationFailed):
        await CreateBill(uow, clock).execute(
            CreateBillCommand(owner_id=uuid4(), fields=BILL | {"amount_due": Decimal("0")})
        )
    assert tables.bills == {} and tables.commits == 0


async def test_pages_cover_every_bill_once_in_due_date_order(reads, uow, hasher, clock) -> None:
    owner = await register(uow, hasher, clock)
    for day in (5, 1, 3, 3, 9, 2, 7):
        await CreateBill(uow, clock).execute(
            CreateBillCommand(
                owner_id=owner.id, fields=BILL | {"bill_date": "2026-01-01", "due_date": f"2026-01-0{day}"}
            )
        )
    _, list_own = own_reads(reads, uow, hasher, clock)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    seen = []
    query: BillQuery | None = BillQuery(limit=3)
    for _ in range(3):  # three pages, then no next one (a cursor that does not move would loop)
        assert query is not None
        page = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=query))
        seen.extend(page.bills)
        query = page.next
    assert query is None
    assert [b.due_date for b in seen] == [date(2026, 1, d) for d in (1, 2, 3, 3, 5, 7, 9)]
    assert len({b.id for b in seen}) == 7


@pytest.mark.parametrize(("count", "offers_next"), [(2, False), (3, False), (4, True)])
async def test_a_next_page_is_offered_only_when_a_bill_is_left_after_a_full_page(
        reads, uow, hasher, clock, count: int, offers_next: bool) -> None:
    owner = await register(uow, hasher, clock)
    await bills_due_on(uow, clock, owner, list(range(1, count + 1)))
    _, list_own = own_reads(reads, uow, hasher, clock)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    page = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery(limit=3)))
    assert [b.due_date.day for b in page.bills] == list(range(1, min(count, 3) + 1))
    assert (page.next is not None) == offers_next and page.rest is None
    if page.next is not None:  # the following page starts after the last bill shown
        assert page.next.limit == 3 and page.next.after == BillCursor(date(2026, 1, 3), page.bills[-1].id)


async def test_filters_select_status_and_due_window(reads, uow, hasher, clock) -> None:
    owner = await register(uow, hasher, clock)
    for due, status in (("2026-01-02", "paid"), ("2026-01-05", "due"), ("2026-01-09", "due")):
        await CreateBill(uow, clock).execute(
            CreateBillCommand(
                owner_id=owner.id, fields=BILL | {"bill_date": "2026-01-01", "due_date": due, "payment_status": status}
            )
        )
    query = BillQuery.from_params({"payment_status": "due", "due_before": "2026-01-06", "due_after": "2026-01-01"})
    _, list_own = own_reads(reads, uow, hasher, clock)
    page = await list_own.execute(
        ListOwnBillsCommand(credentials=Credentials(email_address="jo@example.com", password=PASSWORD), query=query)
    )
    assert [b.due_date for b in page.bills] == [date(2026, 1, 5)]
    assert page.next is None


async def test_database_down_surfaces_as_service_unavailable(uow, clock, tables) -> None:
    tables.down = True
    with pytest.raises(ServiceUnavailable):
        await CreateBill(uow, clock).execute(CreateBillCommand(owner_id=uuid4(), fields=BILL))


@pytest.fixture
def reads(tables: Tables) -> FakeReadOnlyUnitOfWork:
    return FakeReadOnlyUnitOfWork(tables)


def own_reads(reads, uow, hasher, clock) -> tuple[GetOwnBill, ListOwnBills]:  # type: ignore[no-untyped-def]
    authenticate = authenticator(uow, hasher, clock, reads=reads)
    return GetOwnBill(reads, authenticate, FakeFileStore()), ListOwnBills(reads, authenticate, FakeFileStore())


async def test_own_bill_read_with_the_caller_only_when_the_password_matches(reads, uow, hasher, clock) -> None:
    owner = await register(uow, hasher, clock)
    stranger = await register(uow, hasher, clock, email="stranger@example.com")
    bill = await CreateBill(uow, clock).execute(CreateBillCommand(owner_id=owner.id, fields=BILL))
    get_own, _ = own_reads(reads, uow, hasher, clock)
    own = await get_own.execute(
        GetOwnBillCommand(credentials=Credentials(email_address="JO@example.com", password=PASSWORD), bill_id=bill.id)
    )
    assert own.caller.id == owner.id and own.bill is not None and own.bill.id == bill.id
    theirs = await get_own.execute(GetOwnBillCommand(
        credentials=Credentials(email_address=stranger.email_address, password=PASSWORD), bill_id=bill.id))
    assert theirs.caller.id == stranger.id and theirs.bill is None  # someone else's: not found
    for email, password in (
        ("jo@example.com", "Wrong123!"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ):
        with pytest.raises(AuthenticationFailed):
            await get_own.execute(GetOwnBillCommand(credentials=Credentials(email_address=email, password=password),
                                                    bill_id=bill.id))
    assert hasher.decoy_checks == 1  # the unknown account cost a verification


async def test_own_bills_listed_by_pages_only_when_the_password_matches(reads, uow, hasher, clock, tables) -> None:
    owner = await register(uow, hasher, clock)
    await register(uow, hasher, clock, email="idle@example.com")
    for day in (5, 1, 3):
        await CreateBill(uow, clock).execute(
            CreateBillCommand(
                owner_id=owner.id, fields=BILL | {"bill_date": "2026-01-01", "due_date": f"2026-01-0{day}"}
            )
        )
    _, list_own = own_reads(reads, uow, hasher, clock)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    first = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery(limit=2)))
    assert first.caller.id == owner.id
    assert [b.due_date for b in first.bills] == [date(2026, 1, 1), date(2026, 1, 3)] and first.next is not None
    assert all(b.owner_id == owner.id and b.attachment is None for b in first.bills)
    rest = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=first.next))
    assert [b.due_date for b in rest.bills] == [date(2026, 1, 5)] and rest.next is None
    idle = await list_own.execute(
        ListOwnBillsCommand(
            credentials=Credentials(email_address="idle@example.com", password=PASSWORD), query=BillQuery()
        )
    )
    assert idle.bills == [] and idle.next is None
    with pytest.raises(AuthenticationFailed):
        await list_own.execute(
            ListOwnBillsCommand(
                credentials=Credentials(email_address="jo@example.com", password="Wrong123!"), query=BillQuery()
            )
        )
    # A password change counts from the very next call; an outdated hash is replaced as by Authenticate.
    tables.users[owner.id].password_hash = f"legacy${PASSWORD}"
    await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery()))
    assert tables.users[owner.id].password_hash == f"fake${PASSWORD}"
    tables.users[owner.id].password_hash = "fake$Newpass99$"
    with pytest.raises(AuthenticationFailed):
        await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery()))


async def test_hash_kept_when_profile_changes_only_the_names(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    clock.advance(minutes=1)
    updated = await UpdateProfile(uow, hasher, clock).execute(
        UpdateProfileCommand(user=user, fields={"first_name": "Joanna", "last_name": "Roe"}))
    stored = tables.users[user.id]
    assert stored == updated
    assert (stored.first_name, stored.last_name, stored.password_hash) == ("Joanna", "Roe", f"fake${PASSWORD}")
    assert stored.account_updated == clock.now() and stored.account_created == user.account_created


async def test_other_fields_kept_when_profile_changes_only_the_password(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    await UpdateProfile(uow, hasher, clock).execute(UpdateProfileCommand(user=user, fields={"password": "Newpass99$"}))
    stored = tables.users[user.id]
    assert (stored.first_name, stored.last_name, stored.password_hash) == ("Jo", "Doe", "fake$Newpass99$")


async def test_profile_update_of_a_deleted_user_is_not_found(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    del tables.users[user.id]
    with pytest.raises(NotFound):
        await UpdateProfile(uow, hasher, clock).execute(UpdateProfileCommand(user=user, fields={"first_name": "X"}))
    assert tables.users == {}


async def test_password_change_meanwhile_wins_over_the_rehash_when_signing_in(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    tables.users[user.id].password_hash = f"legacy${PASSWORD}"
    read_before = copy.deepcopy(tables.users[user.id])  # what sign-in read and verified
    tables.users[user.id].password_hash = "fake$Newpass99$"  # the password changed meanwhile
    changed = copy.deepcopy(tables.users[user.id])
    clock.advance(minutes=1)
    signed_in = await authenticator(uow, hasher, clock).verified(
        Credentials(email_address="jo@example.com", password=PASSWORD), read_before)
    assert signed_in == read_before
    assert tables.users[user.id] == changed  # neither the hash nor account_updated was touched


async def test_rehash_skipped_when_the_user_was_deleted_meanwhile(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    read_before = copy.deepcopy(tables.users[user.id])
    read_before.password_hash = f"legacy${PASSWORD}"
    del tables.users[user.id]
    signed_in = await authenticator(uow, hasher, clock).verified(
        Credentials(email_address="jo@example.com", password=PASSWORD), read_before)
    assert signed_in == read_before and tables.users == {}


async def test_rehashed_user_returned_when_signing_in_with_an_outdated_hash(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    tables.users[user.id].password_hash = f"legacy${PASSWORD}"
    clock.advance(minutes=5)
    signed_in = await authenticator(uow, hasher, clock).execute(
        Credentials(email_address="jo@example.com", password=PASSWORD)
    )
    assert signed_in == tables.users[user.id]
    assert signed_in.password_hash == f"fake${PASSWORD}" and signed_in.account_updated == clock.now()


async def test_no_write_when_signing_in_with_a_current_hash(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    clock.advance(minutes=1)
    signed_in = await authenticator(uow, hasher, clock).execute(
        Credentials(email_address="jo@example.com", password=PASSWORD)
    )
    assert signed_in == user and tables.users[user.id] == user


async def test_each_field_stored_when_registered(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    assert tables.users == {user.id: User(id=user.id, first_name="Jo", last_name="Doe", email_address="jo@example.com",
                                          password_hash=f"fake${PASSWORD}", account_created=clock.now(),
                                          account_updated=clock.now())}


async def test_taken_address_refused_before_hashing_when_registering(uow, hasher, clock) -> None:
    await register(uow, hasher, clock)
    hashed = hasher.hashed
    with pytest.raises(ValidationFailed) as exc:
        await register(uow, hasher, clock, email="jo@EXAMPLE.com")
    assert [(e.field, e.message) for e in exc.value.errors] == [("email_address", "is already registered")]
    assert hasher.hashed == hashed  # a taken address costs no hash


async def test_sign_in_reads_through_the_read_only_unit_of_work(tables, hasher, clock) -> None:
    user = await register(FakeUnitOfWork(tables), hasher, clock)
    writes_down = Tables(down=True)  # the read-write database is unreachable: only reads can answer
    authenticate = Authenticate(
        FakeUnitOfWork(writes_down),
        hasher,
        clock,
        Throttle(lambda: FakeUnitOfWork(tables), clock),
        SignInRules(),
        reads=FakeReadOnlyUnitOfWork(tables),
    )
    assert await authenticate.execute(Credentials(email_address="jo@example.com", password=PASSWORD)) == user


async def test_unknown_account_costs_a_verification_of_the_password_given(uow, hasher, clock) -> None:
    with pytest.raises(AuthenticationFailed):
        await authenticator(uow, hasher, clock).verified(
            Credentials(email_address="x@example.com", password="pw"), None
        )
    assert hasher.decoy_checks == 1


async def test_profile_update_accepted_when_it_repeats_the_current_email(uow, hasher, clock, tables) -> None:
    user = await register(uow, hasher, clock)
    updated = await UpdateProfile(uow, hasher, clock).execute(
        UpdateProfileCommand(user=user, fields={"email_address": "JO@example.com", "last_name": "Roe"}))
    assert updated.last_name == "Roe" and tables.users[user.id].email_address == "jo@example.com"


async def bills_due_on(uow, clock, owner: User, days: list[int]) -> None:  # type: ignore[no-untyped-def]
    for day in days:
        fields = BILL | {"bill_date": "2026-01-01", "due_date": f"2026-01-{day:02d}"}
        await CreateBill(uow, clock).execute(CreateBillCommand(owner_id=owner.id, fields=fields))


async def every_page(own: OwnBills, tables: Tables, most: int = 20) -> list[list[BillView]]:
    """The listing's pages; fails past `most` of them (a cursor that does not move loops for ever)."""
    pages = [list(own.bills)]
    if own.rest is not None:
        async for page in own.rest:
            assert tables.open_units == 0  # no connection held while the consumer has a page
            pages.append(list(page))
            assert len(pages) <= most, "the listing does not end"
    return pages


@pytest.mark.parametrize(("count", "sizes"), [(0, [0]), (2, [2]), (3, [3]), (4, [3, 1]), (6, [3, 3]), (7, [3, 3, 1])])
async def test_unpaged_listing_gives_every_bill_once_in_order_in_pages_when_longer_than_a_page(
        reads, uow, hasher, clock, tables, count: int, sizes: list[int]) -> None:
    owner = await register(uow, hasher, clock)
    other = await register(uow, hasher, clock, email="other@example.com")
    await bills_due_on(uow, clock, owner, [1 + i % 2 for i in range(count)])  # ties on each page boundary
    await bills_due_on(uow, clock, other, [1, 2])
    list_own = ListOwnBills(reads, authenticator(uow, hasher, clock, reads=reads), FakeFileStore(), page_size=3)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    own = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery()))
    assert (own.rest is None) == (count <= 3) and own.next is None
    pages = await every_page(own, tables)
    assert [len(page) for page in pages] == sizes
    # Each read asks for one bill more than a page (whether another follows), and a full last
    # page costs no further read.
    assert tables.limits_asked == [4] * len(sizes) and tables.pages_read == len(sizes) - 1
    listed = [bill for page in pages for bill in page]
    expected = sorted((b for b in tables.bills.values() if b.owner_id == owner.id),
                      key=lambda b: (b.details.due_date, str(b.id)))
    assert [b.id for b in listed] == [b.id for b in expected]


async def test_each_later_page_starts_after_the_last_bill_of_the_one_before(reads, uow, hasher, clock,
                                                                            tables) -> None:
    owner = await register(uow, hasher, clock)
    await bills_due_on(uow, clock, owner, [1, 2, 3, 4, 5, 6, 7, 8])
    list_own = ListOwnBills(reads, authenticator(uow, hasher, clock, reads=reads), FakeFileStore(), page_size=3)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    own = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery()))
    assert own.caller.id == owner.id and own.next is None
    pages = await every_page(own, tables)
    assert [[b.due_date.day for b in page] for page in pages] == [[1, 2, 3], [4, 5, 6], [7, 8]]


async def test_every_way_of_listing_names_the_caller_and_refuses_an_unknown_one(reads, uow, hasher, clock) -> None:
    owner = await register(uow, hasher, clock)
    await bills_due_on(uow, clock, owner, [1, 2])
    _, list_own = own_reads(reads, uow, hasher, clock)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    for query in (BillQuery(), BillQuery(limit=1), BillQuery(limit=2)):
        own = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=query))
        assert own.caller.id == owner.id and own.bills
    with pytest.raises(AuthenticationFailed):
        await list_own.execute(ListOwnBillsCommand(
            credentials=Credentials(email_address="nobody@example.com", password=PASSWORD), query=BillQuery()))


async def test_later_pages_filter_sign_links_and_stop_at_a_failure(reads, uow, hasher, clock, tables) -> None:
    owner = await register(uow, hasher, clock)
    await bills_due_on(uow, clock, owner, [1, 2, 3, 4, 5, 6, 7])
    bills = sorted(tables.bills.values(), key=lambda b: b.details.due_date)
    last = bills[-1]
    last.attachment = Attachment(id=uuid4(), bill_id=last.id, file_name="f.pdf", size=1, md5="0" * 32,
                                 sha256="1" * 64, mime_type="application/pdf", object_key=f"bills/{last.id}/a",
                                 upload_date=clock.now())
    list_own = ListOwnBills(reads, authenticator(uow, hasher, clock, reads=reads), FakeFileStore(), page_size=2)
    credentials = Credentials(email_address="jo@example.com", password=PASSWORD)
    query = BillQuery(due_after=date(2026, 1, 2))  # the filter holds on every page
    pages = await every_page(await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=query)), tables)
    assert [[b.due_date.day for b in page] for page in pages] == [[2, 3], [4, 5], [6, 7]]
    attachment = pages[-1][-1].attachment
    assert attachment is not None and attachment.url == f"https://files.test/bills/{last.id}/a?name=f.pdf"

    own = await list_own.execute(ListOwnBillsCommand(credentials=credentials, query=BillQuery()))
    assert own.rest is not None
    tables.page_error = ServiceUnavailable("fake database is down")  # the second page cannot be read
    with pytest.raises(ServiceUnavailable):
        await anext(own.rest)
    assert tables.open_units == 0
