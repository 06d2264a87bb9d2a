from django.contrib.auth import views as auth_views
from django.urls import path

from . import field_views, loyalty_views, member_views, views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("members/", member_views.member_list_page, name="members"),
    path("members/columns/", member_views.member_columns, name="member-columns"),
    path("members/bulk/", member_views.member_bulk, name="member-bulk"),
    path("members/new/", member_views.member_new, name="member-new"),
    path("members/export/", member_views.member_export, name="member-export"),
    path("members/<int:member_id>/", member_views.member_profile, name="member"),
    path("members/<int:member_id>/edit/", member_views.member_edit, name="member-edit"),
    path("members/<int:member_id>/merge/", member_views.member_merge_page, name="member-merge"),
    path("members/<int:member_id>/erase/", member_views.member_erase_page, name="member-erase"),
    path("members/<int:member_id>/tags/", member_views.member_tag, name="member-tag"),
    path("members/<int:member_id>/ledger/", loyalty_views.member_ledger, name="member-ledger"),
    path("members/<int:member_id>/topup/", loyalty_views.member_topup, name="member-topup"),
    path("members/<int:member_id>/coupon/", loyalty_views.member_coupon, name="member-coupon"),
    path("members/<int:member_id>/adjust/", loyalty_views.member_adjust, name="member-adjust"),
    path("members/<int:member_id>/exchange/", loyalty_views.member_exchange, name="member-exchange"),
    path("loyalty/", loyalty_views.loyalty_settings_page, name="loyalty"),
    path("coupons/", loyalty_views.coupon_page, name="coupons"),
    path("loyalty/adjustments/<int:adjustment_id>/", loyalty_views.adjustment_decide, name="adjustment-decide"),
    path("fields/", field_views.field_designer, name="fields"),
    path("fields/layout/", field_views.field_layout, name="field-layout"),
    path("fields/preview/", field_views.field_preview, name="field-preview"),
    path("segments/", member_views.segment_page, name="segments"),
    path("tags/", member_views.tag_page, name="tags"),
    path("segments/count/", member_views.segment_count, name="segment-count"),
    path("imports/", member_views.import_page, name="imports"),
    path("imports/<int:job_id>/", member_views.import_detail, name="import"),
    path("imports/<int:job_id>/errors.csv", member_views.import_errors, name="import-errors"),
    path("stores/", views.stores, name="stores"),
    path("stores/new/", views.store_edit, name="store-new"),
    path("stores/<int:store_id>/", views.store_edit, name="store-edit"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/invite/", views.staff_invite, name="staff-invite"),
    path("staff/<int:staff_id>/", views.staff_edit, name="staff-edit"),
    path("staff/<int:staff_id>/unlock/", views.staff_unlock, name="staff-unlock"),
    path("roles/", views.roles, name="roles"),
    path("api-keys/", views.apikey_list, name="apikeys"),
    path("api-keys/<int:key_id>/revoke/", views.apikey_revoke, name="apikey-revoke"),
    path("audit/", views.audit_log, name="audit"),
    path("deliveries/", views.deliveries, name="deliveries"),
    path("invite/<str:token>", views.invite_accept, name="invite-accept"),
]

from . import automation_views  # noqa: E402

urlpatterns += [
    path("automation/", automation_views.automation_home, name="automation"),
    path("automation/install/", automation_views.template_install, name="template-install"),
    path("automation/rules/new/", automation_views.rule_edit, name="rule-new"),
    path("automation/rules/count/", automation_views.member_count, name="rule-count"),
    path("automation/rules/<int:rule_id>/", automation_views.rule_edit, name="rule"),
    path("automation/rules/<int:rule_id>/status/", automation_views.rule_status, name="rule-status"),
    path("automation/rules/<int:rule_id>/retry/", automation_views.rule_retry, name="rule-retry"),
    path("automation/campaigns/", automation_views.campaign_page, name="campaigns"),
    path("automation/settings/", automation_views.automation_settings_page, name="automation-settings"),
    path("automation/messages/", automation_views.message_page, name="automation-messages"),
    path("unsubscribe/<str:token>/", automation_views.unsubscribe_page, name="unsubscribe"),
    path("automation/flows/", automation_views.flow_list, name="flows"),
    path("automation/flows/new/", automation_views.flow_edit, name="flow-new"),
    path("automation/flows/<int:type_id>/", automation_views.flow_edit, name="flow"),
    path("tasks/", automation_views.task_inbox, name="tasks"),
    path("tasks/new/", automation_views.task_new, name="task-new"),
    path("tasks/<int:task_id>/", automation_views.task_detail, name="task"),
]

from . import integration_views  # noqa: E402

urlpatterns += [
    path("integrations/", integration_views.integration_list, name="integrations"),
    path("integrations/new/", integration_views.connection_edit, name="connection-new"),
    path("integrations/webhooks/", integration_views.webhook_page, name="webhooks"),
    path("integrations/<int:connection_id>/", integration_views.connection_edit, name="connection"),
    path("integrations/<int:connection_id>/action/", integration_views.connection_action, name="connection-action"),
]

from . import cashier_views  # noqa: E402

urlpatterns += [
    path("cashier/", cashier_views.cashier, name="cashier"),
    path("orders/", cashier_views.orders, name="orders"),
    path("orders/<str:order_no>/", cashier_views.order_detail, name="order"),
]

from . import report_views  # noqa: E402

urlpatterns += [
    path("reports/", report_views.report_page, name="reports"),
    path("reports/export/", report_views.report_export, name="report-export"),
    path("reports/widget/", report_views.report_widget, name="report-widget"),
    path("dashboards/save/", report_views.dashboard_save, name="dashboard-save"),
    path("dashboards/schedule/", report_views.schedule_save, name="schedule-save"),
    path("dashboards/<int:dashboard_id>/", report_views.dashboard_page, name="dashboard"),
]
