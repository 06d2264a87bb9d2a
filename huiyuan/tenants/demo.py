"""The demo merchant that ``huiyuan up`` creates: stores in several cities, staff of every role,
a few thousand members and their orders, generated with Faker's zh_CN locale, and a loyalty
programme (tiers, a member day, top-up plans, coupons) with the points last year's orders earned."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import tenant_context
from faker import Faker

from huiyuan.members.models import Member, Order, OrderLine, Store
from huiyuan.members.stats import stats_rebuild
from huiyuan.platform.models import StoreAssignment, User
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.roles import Role

from .models import Domain, Tenant
from .services import tenant_domain, tenant_signup

DEMO_SUBDOMAIN = "demo"
DEMO_PASSWORD = "Demo-2026"
DEMO_OWNER_PHONE = "13800000000"

STORES = [
    ("SH001", "上海徐汇旗舰店", "上海", "上海市徐汇区漕溪北路 88 号"),
    ("SH002", "上海静安店", "上海", "上海市静安区南京西路 1266 号"),
    ("BJ001", "北京朝阳店", "北京", "北京市朝阳区建国路 87 号"),
    ("GZ001", "广州天河店", "广州", "广州市天河区天河路 208 号"),
    ("CD001", "成都春熙路店", "成都", "成都市锦江区春熙路 19 号"),
]
# Where members live: mostly around the stores, some from elsewhere; each city in its province.
CITIES = [
    ("上海市", "上海市", 30),
    ("北京市", "北京市", 18),
    ("广东省", "广州市", 16),
    ("广东省", "深圳市", 6),
    ("四川省", "成都市", 16),
    ("江苏省", "苏州市", 5),
    ("浙江省", "杭州市", 5),
    ("湖北省", "武汉市", 4),
]
# A restaurant's menu: (sku, name, category, price).
MENU = [
    ("D001", "招牌红烧肉", "热菜", Decimal("68.00")),
    ("D002", "清蒸鲈鱼", "热菜", Decimal("88.00")),
    ("D003", "麻婆豆腐", "热菜", Decimal("32.00")),
    ("D004", "宫保鸡丁", "热菜", Decimal("42.00")),
    ("C001", "凉拌黄瓜", "凉菜", Decimal("18.00")),
    ("C002", "口水鸡", "凉菜", Decimal("38.00")),
    ("S001", "扬州炒饭", "主食", Decimal("26.00")),
    ("S002", "担担面", "主食", Decimal("22.00")),
    ("B001", "鲜榨橙汁", "饮品", Decimal("18.00")),
    ("B002", "青岛啤酒", "烟酒", Decimal("12.00")),
    ("T001", "芒果布丁", "甜点", Decimal("16.00")),
]
STAFF = [
    ("hq", "总部管理员 周敏", Role.HQ_ADMIN, []),
    ("manager_sh", "店长 陈静", Role.STORE_MANAGER, ["SH001", "SH002"]),
    ("manager_gz", "店长 黄伟", Role.STORE_MANAGER, ["GZ001"]),
    ("marketing", "市场 林芳", Role.MARKETING, []),
    ("service", "客服 王磊", Role.CUSTOMER_SERVICE, []),
    ("cashier_sh", "收银 刘洋", Role.CASHIER, ["SH001"]),
]


def demo_exists() -> bool:
    return Domain.objects.filter(domain=tenant_domain(DEMO_SUBDOMAIN)).exists()


def create_demo(*, members: int = 3000, seed: int = 2026) -> Tenant:
    result = tenant_signup(
        name="好味道餐饮（演示）",
        subdomain=DEMO_SUBDOMAIN,
        owner_phone=DEMO_OWNER_PHONE,
        owner_email="owner@demo.example.cn",
        password=DEMO_PASSWORD,
    )
    tenant = result.tenant
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    with tenant_context(tenant), transaction.atomic():
        stores = {
            code: Store.objects.create(code=code, name=name, region=region, address=address)
            for code, name, region, address in STORES
        }
        for username, name, role, store_codes in STAFF:
            user = User(username=username, name=name, role=role)
            user.set_password(DEMO_PASSWORD)
            user.save()
            StoreAssignment.objects.bulk_create([StoreAssignment(user=user, store=stores[c]) for c in store_codes])
        _create_members_and_orders(list(stores.values()), members, rng, fake)
        from huiyuan.members.pinyin import pinyin_refresh

        pinyin_refresh()
    with tenant_context(tenant):
        _create_loyalty_programme(User.objects.get(role=Role.OWNER))
        _switch_on_automation(User.objects.get(role=Role.OWNER))
        from huiyuan.reports.rollups import rollup_all

        rollup_all()  # the cockpit shows the demo's history at once, not after the first night
    return tenant


def _switch_on_automation(owner: User) -> None:
    """A few ready-made rules on, as a merchant would start: new members get a welcome and a coupon,
    birthdays a greeting, regulars who stop coming a care call from their store."""
    from huiyuan.automation.gallery import template_install
    from huiyuan.loyalty.models import CouponTemplate

    coupon = CouponTemplate.objects.get(name="满100减20")
    for key in ("welcome", "birthday", "churn_risk"):
        template_install(actor=owner, key=key, coupon_template_id=coupon.pk)


def _create_loyalty_programme(owner: User) -> None:
    """Configured through the same services the console uses, so the demo shows real entries."""
    from huiyuan.loyalty.config import earn_rule_create, loyalty_settings_update, tier_save
    from huiyuan.loyalty.coupons import coupon_template_create
    from huiyuan.loyalty.ledger import points_earn
    from huiyuan.loyalty.stored_value import topup_plan_create
    from huiyuan.loyalty.tiers import tier_review

    loyalty_settings_update(actor=owner, data={"excluded_categories": "烟酒,礼品卡"})
    for name, threshold, discount, multiplier, gift in (
        ("普通会员", "0", "1", "1", ""),
        ("银卡", "2000", "0.98", "1.2", "生日饮品一杯"),
        ("金卡", "5000", "0.95", "1.5", "生日蛋糕"),
        ("钻石", "15000", "0.9", "2", "生日套餐"),
    ):
        data = {"name": name, "threshold_spend": threshold, "discount_rate": discount}
        tier_save(
            actor=owner, data=data | {"points_multiplier": multiplier, "window_days": "365", "birthday_gift": gift}
        )
    earn_rule_create(actor=owner, data={"kind": "weekday", "match": "3", "multiplier": "2"})  # 周三会员日
    earn_rule_create(actor=owner, data={"kind": "birthday_month", "multiplier": "2"})
    topup_plan_create(actor=owner, name="充500送50", pay_amount="500", bonus_amount="50")
    topup_plan_create(actor=owner, name="充1000送120", pay_amount="1000", bonus_amount="120")
    coupon_template_create(
        actor=owner, name="满100减20", kind="threshold", amount_off=Decimal(20), threshold=Decimal(100), valid_days=30
    )
    coupon_template_create(
        actor=owner, name="积分换甜品", kind="gift", gift="招牌甜品一份", valid_days=60, points_price=500
    )
    since = timezone.now() - timedelta(days=365)
    spend = Order.objects.filter(paid_at__gte=since, member__isnull=False).values_list("member_id", "paid_amount")
    earned: dict[int, Decimal] = {}
    for member_id, amount in spend:
        earned[member_id] = earned.get(member_id, Decimal(0)) + amount
    with transaction.atomic():
        for member_id, total in earned.items():
            if int(total) > 0:
                points_earn(
                    member_id=member_id,
                    amount=int(total),
                    idempotency_key=f"demo:{member_id}",
                    cause="import",
                    reason="去年消费积分",
                )
    tier_review()


def _create_members_and_orders(stores: list[Store], count: int, rng: random.Random, fake: Faker) -> None:
    """Members who joined over the last two years, living in cities that are in their provinces,
    with card numbers from the merchant's sequence (so members enrolled later continue it), and
    orders after they joined, each with lines from the menu, hashed like any other order."""
    from django.db import connection

    from huiyuan.members.orders import request_hash_of

    now = timezone.now()
    phones: set[str] = set()
    batch: list[Member] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('member_card_no_seq') FROM generate_series(1, %s)", [count])
        card_numbers = [number for (number,) in cursor.fetchall()]
    places = [(province, city) for province, city, weight in CITIES for _ in range(weight)]
    while len(batch) < count:
        try:
            phone = normalize_phone(fake.phone_number())
        except InvalidPhone:
            continue
        if phone in phones:
            continue
        phones.add(phone)
        gender = rng.choice([Member.Gender.FEMALE, Member.Gender.MALE, Member.Gender.UNKNOWN])
        name = fake.name_female() if gender == Member.Gender.FEMALE else fake.name_male()
        province, city = rng.choice(places)
        batch.append(
            Member(
                name=name,
                phone=phone,
                gender=gender,
                birthday=fake.date_of_birth(minimum_age=16, maximum_age=70) if rng.random() < 0.8 else None,
                province=province,
                city=city,
                home_store=rng.choice(stores),
                channel=rng.choice(Member.Channel.values[:3]),
                card_no=f"8{card_numbers[len(batch)]:011d}",
                consent_sms=rng.random() < 0.7,
                consent_wechat=rng.random() < 0.5,
            )
        )
    created = Member.objects.bulk_create(batch, batch_size=1000)
    joined = {member.pk: now - timedelta(days=rng.uniform(0, 730)) for member in created}
    for member in created:  # auto_now_add set "now"; members joined over two years
        member.created_at = joined[member.pk]
    Member.objects.bulk_update(created, ["created_at"], batch_size=1000)
    orders: list[Order] = []
    order_lines: list[list[OrderLine]] = []
    for member in created:
        # A long tail: most members buy a few times, a few buy very often (for the 80/20 reports).
        for _ in range(min(int(rng.paretovariate(1.3)), 40) if rng.random() < 0.85 else 0):
            store = member.home_store if rng.random() < 0.8 else rng.choice(stores)
            days_member = (now - joined[member.pk]).total_seconds() / 86400
            paid_at = now - timedelta(days=rng.uniform(0, days_member))
            lines = [
                OrderLine(sku=sku, name=dish, category=category, quantity=quantity, amount=price * quantity)
                for sku, dish, category, price in rng.sample(MENU, rng.randint(1, 5))
                for quantity in [rng.choice([1, 1, 1, 2, 2, 3])]
            ]
            total = sum((line.amount for line in lines), Decimal(0))
            order_no = f"DEMO{len(orders) + 1:08d}"
            orders.append(
                Order(
                    order_no=order_no,
                    store=store,
                    member=member,
                    total_amount=total,
                    paid_amount=total,
                    payment_methods=[
                        {"method": rng.choice(["wechat", "alipay", "cash", "card"]), "amount": str(total)}
                    ],
                    paid_at=paid_at,
                    source=Order.Source.IMPORT,
                    request_hash=request_hash_of({"demo": order_no, "member": member.pk, "amount": total}),
                )
            )
            order_lines.append(lines)
    Order.objects.bulk_create(orders, batch_size=2000)
    for order, lines in zip(orders, order_lines, strict=True):
        for line in lines:
            line.order = order
    OrderLine.objects.bulk_create([line for lines in order_lines for line in lines], batch_size=5000)
    stats_rebuild()
