"""Automation: rules (trigger → conditions → actions, versioned), their runs and steps (the runs
log), messages sent to members, staff notifications, campaigns on segments, and staff tasks that
follow a merchant-designed flow."""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from huiyuan.members.models import Member, Segment
from huiyuan.platform.models import Store


class AutomationSettings(models.Model):
    """One row per merchant: the guards every rule and campaign obeys."""

    quiet_start = models.TimeField(_("quiet hours start"), default=time(21, 0))
    quiet_end = models.TimeField(_("quiet hours end"), default=time(9, 0))
    max_messages_per_member_day = models.PositiveSmallIntegerField(_("messages per member per day"), default=2)
    max_messages_per_member_week = models.PositiveSmallIntegerField(_("messages per member per week"), default=5)
    daily_message_budget = models.PositiveIntegerField(_("messages per day (whole merchant)"), default=20000)
    daily_coupon_budget = models.PositiveIntegerField(_("coupons per day (whole merchant)"), default=10000)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "automation settings"


class Rule(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("On")
        PAUSED = "paused", _("Paused")

    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=255, blank=True)
    template_key = models.CharField(max_length=50, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    is_campaign = models.BooleanField(default=False)
    version = models.ForeignKey("RuleVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Bumped when the rule is switched on, off or edited: a daily timer set before that does nothing.
    schedule_token = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """What a rule does, frozen: editing a live rule writes a new version; runs under way keep theirs."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    trigger = models.JSONField(encoder=DjangoJSONEncoder)
    conditions = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    actions = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    guards = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "number"], name="rule_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.number}"


class Run(models.Model):
    """A rule reaching one member once: at most one per (rule, member, period)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        WAITING = "waiting", _("Waiting")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="runs")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="automation_runs")
    period_key = models.CharField(max_length=40)
    trigger_event_id = models.BigIntegerField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "member", "period_key"], name="run_once_per_member_period")
        ]
        indexes = [models.Index(fields=["rule", "status"])]

    def __str__(self) -> str:
        return f"run {self.pk} of rule {self.rule_id}"


class Step(models.Model):
    """One action of a run, with its outcome: the runs log's line."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed for good")

    # No database constraint (as for deliveries and their events): the first steps are written with
    # their runs in one statement, and the per-row check, planned while the run table was still
    # small, scanned it whole for every step. Deleting a run deletes its steps through the ORM.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_constraint=False)
    path = models.CharField(max_length=40)  # "0", "2.then.0": where the action sits in the version
    action_type = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="step_once_per_path")]
        indexes = [models.Index(fields=["status"], name="step_dead_idx", condition=models.Q(status="dead"))]

    def __str__(self) -> str:
        return f"{self.action_type} {self.path} ({self.status})"


class Message(models.Model):
    """A message to a member through a channel. The step that sends it holds one at most.

    Messages to outside vendors (e-mail, SMS) are sent after the step commits, by a task that first
    claims the message (``queued`` → ``sending``, committed) and only then calls the vendor: a
    worker dying in the call leaves it ``sending``, which the watchdog turns into ``unconfirmed``
    (listed for staff, never sent again automatically), so no member gets a message twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNCONFIRMED = "unconfirmed", _("Unconfirmed (the sender stopped mid-send)")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=20)
    address = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    options = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)  # vendor template, values
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    step = models.OneToOneField(Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="message")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    vendor_message_id = models.CharField(max_length=120, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "created_at"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.channel} to {self.member_id}"

    @property
    def channel_label(self) -> str:
        from .registry import CHANNELS

        channel = CHANNELS.get(self.channel)
        return str(channel.label) if channel else self.channel


class StaffNotification(models.Model):
    """The console's inbox: a task assigned, a task overdue, a rule's notice to staff."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class Campaign(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DONE = "done", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(_("name"), max_length=100)
    segment = models.ForeignKey(Segment, null=True, on_delete=models.SET_NULL, related_name="campaigns")
    audience = models.JSONField(encoder=DjangoJSONEncoder)  # the segment's rule, frozen at launch
    rule = models.OneToOneField(Rule, on_delete=models.PROTECT, related_name="campaign")
    holdout_percent = models.PositiveSmallIntegerField(_("hold-out share (%)"), default=0)
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    reached = models.PositiveIntegerField(default=0)
    held_out = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.name


class CampaignMember(models.Model):
    """Who a campaign reached or kept out on purpose (the hold-out group the effect is measured against)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="audience_members")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    holdout = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="campaign_member_once")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.member_id}"


class TaskType(models.Model):
    """A kind of staff task and its flow: states, the moves between them, who may make each move
    and what happens on it. Designed by the merchant in the console."""

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    states = models.JSONField(default=list)  # [{"key", "label", "final"}], the first one is where tasks start
    transitions = models.JSONField(default=list)  # [{"from", "to", "label", "roles", "effects"}]
    default_due_hours = models.PositiveIntegerField(default=48)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    """A staff task (care call, complaint, approval) following its type's flow."""

    type = models.ForeignKey(TaskType, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    assignee_role = models.CharField(max_length=20, blank=True)  # a store's role, when no one person
    state = models.CharField(max_length=40)
    closed = models.BooleanField(default=False)
    outcome = models.TextField(_("outcome"), blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["closed", "due_at", "pk"]
        indexes = [models.Index(fields=["assignee", "closed"]), models.Index(fields=["store", "closed"])]

    def __str__(self) -> str:
        return self.title

    @property
    def assigned_to(self) -> str:
        """Who it is for, as staff read it: a person's name, or the role at the store."""
        from huiyuan.platform.roles import Role

        if self.assignee_id and self.assignee:
            return str(self.assignee.display_name)
        return str(Role(self.assignee_role).label) if self.assignee_role in Role.values else self.assignee_role


class TaskComment(models.Model):
    """A comment, or a move between states (``from_state`` / ``to_state`` set), in the task's history."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(blank=True)
    from_state = models.CharField(max_length=40, blank=True)
    to_state = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.body[:40]
