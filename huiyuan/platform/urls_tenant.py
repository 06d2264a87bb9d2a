"""URLs of a merchant's site (``<subdomain>.<base domain>``): console and API."""

from django.urls import include, path

from huiyuan.automation.api import views as automation_views
from huiyuan.integrations.api import views as integration_views
from huiyuan.loyalty.api import config_views as loyalty_config
from huiyuan.loyalty.api import views as loyalty_views
from huiyuan.members.api import views as member_views
from huiyuan.platform.api import views as platform_views
from huiyuan.platform.api.docs import DocsView, SchemaView
from huiyuan.platform.language import language_set
from huiyuan.reports.api import views as report_views

api_v1 = [
    path("integrations/connections", integration_views.ConnectionListView.as_view(), name="connection-list"),
    path(
        "integrations/connections/<int:connection_id>/test",
        integration_views.ConnectionTestView.as_view(),
        name="connection-test",
    ),
    path("integrations/calls", integration_views.VendorCallListView.as_view(), name="vendor-call-list"),
    path("miniprogram/signup", integration_views.MiniProgramSignupView.as_view(), name="miniprogram-signup"),
    path("miniprogram/me", integration_views.MiniProgramMeView.as_view(), name="miniprogram-me"),
    path("automation/rules", automation_views.RuleListView.as_view(), name="rule-list"),
    path("automation/rules/dry-run", automation_views.RuleDryRunView.as_view(), name="rule-dry-run"),
    path("automation/rules/<int:rule_id>", automation_views.RuleDetailView.as_view(), name="rule-detail"),
    path("automation/rules/<int:rule_id>/status", automation_views.RuleStatusView.as_view(), name="rule-status"),
    path("automation/rules/<int:rule_id>/stats", automation_views.RuleStatsView.as_view(), name="rule-stats"),
    path("automation/rules/<int:rule_id>/steps", automation_views.RuleStepsView.as_view(), name="rule-steps"),
    path("automation/rules/<int:rule_id>/retry", automation_views.RuleRetryView.as_view(), name="rule-retry"),
    path("automation/templates", automation_views.TemplateListView.as_view(), name="rule-templates"),
    path("automation/campaigns", automation_views.CampaignListView.as_view(), name="campaign-list"),
    path("automation/campaigns/preview", automation_views.CampaignPreviewView.as_view(), name="campaign-preview"),
    path("automation/task-types", automation_views.TaskTypeListView.as_view(), name="task-type-list"),
    path("automation/task-types/<int:type_id>", automation_views.TaskTypeDetailView.as_view(), name="task-type"),
    path("tasks", automation_views.TaskListView.as_view(), name="task-list"),
    path("tasks/<int:task_id>", automation_views.TaskDetailView.as_view(), name="task-detail"),
    path("tasks/<int:task_id>/moves", automation_views.TaskMoveView.as_view(), name="task-move"),
    path("tasks/<int:task_id>/comments", automation_views.TaskCommentView.as_view(), name="task-comments"),
    path("members/<int:member_id>/messages", automation_views.MemberMessageListView.as_view(), name="member-messages"),
    path("me", platform_views.MeView.as_view(), name="me"),
    path("roles", platform_views.RoleListView.as_view(), name="roles"),
    path("staff", platform_views.StaffListView.as_view(), name="staff-list"),
    path("staff/<int:staff_id>", platform_views.StaffDetailView.as_view(), name="staff-detail"),
    path("api-keys", platform_views.ApiKeyListView.as_view(), name="apikey-list"),
    path("api-keys/<int:key_id>/revoke", platform_views.ApiKeyRevokeView.as_view(), name="apikey-revoke"),
    path("audit", platform_views.AuditListView.as_view(), name="audit-list"),
    path("event-deliveries", platform_views.EventDeliveryListView.as_view(), name="delivery-list"),
    path("event-deliveries/retry", platform_views.EventDeliveryRetryView.as_view(), name="delivery-retry"),
    path("stores", member_views.StoreListView.as_view(), name="store-list"),
    path("stores/<int:store_id>", member_views.StoreDetailView.as_view(), name="store-detail"),
    path("members", member_views.MemberListView.as_view(), name="member-list"),
    path("members/merge", member_views.MemberMergeView.as_view(), name="member-merge"),
    path("members/export", member_views.MemberExportView.as_view(), name="member-export"),
    path("members/<int:member_id>", member_views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<int:member_id>/profile", member_views.MemberProfileView.as_view(), name="member-profile"),
    path("members/<int:member_id>/history", member_views.MemberHistoryView.as_view(), name="member-history"),
    path("members/<int:member_id>/tags/<int:tag_id>", member_views.MemberTagView.as_view(), name="member-tag"),
    path("member-settings", member_views.MemberSettingsView.as_view(), name="member-settings"),
    path("custom-fields", member_views.CustomFieldListView.as_view(), name="customfield-list"),
    path("custom-fields/order", member_views.CustomFieldOrderView.as_view(), name="customfield-order"),
    path("custom-fields/<int:field_id>", member_views.CustomFieldDetailView.as_view(), name="customfield-detail"),
    path("orders", loyalty_views.OrderListView.as_view(), name="order-list"),
    path("orders/<str:order_no>", loyalty_views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:order_no>/refunds", loyalty_views.RefundView.as_view(), name="order-refund"),
    path("members/<int:member_id>/topups", loyalty_views.MemberTopUpView.as_view(), name="member-topup"),
    path("members/<int:member_id>/ledger", loyalty_views.MemberLedgerView.as_view(), name="member-ledger"),
    path("stored-value/statement", loyalty_views.StoredValueStatementView.as_view(), name="sv-statement"),
    path("loyalty/settings", loyalty_config.LoyaltySettingsView.as_view(), name="loyalty-settings"),
    path("loyalty/earn-rules", loyalty_config.EarnRuleListView.as_view(), name="earn-rules"),
    path("loyalty/earn-rules/<int:rule_id>", loyalty_config.EarnRuleDetailView.as_view(), name="earn-rule"),
    path("loyalty/tiers", loyalty_config.TierListView.as_view(), name="tiers"),
    path("loyalty/tiers/<int:tier_id>", loyalty_config.TierDetailView.as_view(), name="tier"),
    path(
        "members/<int:member_id>/points-adjustments",
        loyalty_config.MemberPointsAdjustmentView.as_view(),
        name="member-points-adjust",
    ),
    path(
        "members/<int:member_id>/coupon-exchanges",
        loyalty_config.MemberCouponExchangeView.as_view(),
        name="member-coupon-exchange",
    ),
    path("points-adjustments", loyalty_config.PointsAdjustmentListView.as_view(), name="points-adjustments"),
    path(
        "points-adjustments/<int:adjustment_id>/decision",
        loyalty_config.PointsAdjustmentDecisionView.as_view(),
        name="points-adjustment-decision",
    ),
    path("loyalty/opening-balances", loyalty_views.OpeningBalancesView.as_view(), name="opening-balances"),
    path("reports", report_views.ReportListView.as_view(), name="report-list"),
    path("reports/<str:key>", report_views.ReportRunView.as_view(), name="report-run"),
    path("checkout/members", loyalty_views.CheckoutMemberLookupView.as_view(), name="checkout-members"),
    path("checkout/quote", loyalty_views.CheckoutQuoteView.as_view(), name="checkout-quote"),
    path("checkout", loyalty_views.CheckoutView.as_view(), name="checkout"),
    path("checkout/<str:order_no>/refunds", loyalty_views.RefundView.as_view(), name="checkout-refund"),
    path("tags", member_views.TagListView.as_view(), name="tag-list"),
    path("segments", member_views.SegmentListView.as_view(), name="segment-list"),
    path("segments/preview", member_views.SegmentPreviewView.as_view(), name="segment-preview"),
    path("segments/<int:segment_id>", member_views.SegmentDetailView.as_view(), name="segment-detail"),
    path(
        "segments/<int:segment_id>/actions/<str:action>",
        member_views.SegmentActionView.as_view(),
        name="segment-action",
    ),
    path("imports", member_views.ImportListView.as_view(), name="import-list"),
    path("imports/<int:job_id>", member_views.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:job_id>/preview", member_views.ImportPreviewView.as_view(), name="import-preview"),
    path("imports/<int:job_id>/start", member_views.ImportStartView.as_view(), name="import-start"),
    path("imports/<int:job_id>/retry", member_views.ImportRetryView.as_view(), name="import-retry"),
    path("imports/<int:job_id>/encoding", member_views.ImportEncodingView.as_view(), name="import-encoding"),
    path("imports/<int:job_id>/errors.csv", member_views.ImportErrorsView.as_view(), name="import-errors"),
    path("schema", SchemaView.as_view(), name="schema"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/docs", DocsView.as_view(url_name="api:schema"), name="api-docs"),
    path("i18n/setlang/", language_set, name="set_language"),  # saves the choice on the user too
    path("i18n/", include("django.conf.urls.i18n")),
    path("callbacks/wecom/<int:connection_id>/", integration_views.wecom_callback, name="wecom-callback"),
    path("callbacks/dingtalk/<int:connection_id>/", integration_views.dingtalk_callback, name="dingtalk-callback"),
    path("", include("huiyuan.console.urls")),
]
