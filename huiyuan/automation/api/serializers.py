from __future__ import annotations

from typing import Any

from rest_framework import serializers

from huiyuan.platform.api.inputs import CountField, StrictSerializer, TextField

from ..models import Campaign, Message, Rule, Step, Task, TaskComment, TaskType


class RuleSpecInput(StrictSerializer):
    trigger = serializers.JSONField(
        help_text='{"type": "event:order.paid"} or {"type": "schedule:birthday", "at": "09:00"}'
    )
    conditions = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text='{"member": <segment rule>, "event": [{field, op, value}]}',
    )
    actions = serializers.JSONField(help_text='[{"type": "send_message", "channel": "inbox", "body": "…"}, …]')
    guards = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text='{"once_per": "event|day|week|month|year|ever", "quiet_hours": true}',
    )


class RuleInput(RuleSpecInput):
    name = TextField(max_length=100)
    description = TextField(required=False, allow_blank=True, max_length=255, default="")


class RuleStatusInput(StrictSerializer):
    status = serializers.ChoiceField(choices=["active", "paused"])


class TemplateInstallInput(StrictSerializer):
    key = TextField(max_length=50)
    coupon_template_id = CountField(required=False, min_value=1, allow_null=True, default=None)
    activate = serializers.BooleanField(required=False, default=True)


class RuleVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    trigger = serializers.JSONField()
    conditions = serializers.JSONField()
    actions = serializers.JSONField()
    guards = serializers.JSONField()
    created_at = serializers.DateTimeField()


class RuleSerializer(serializers.ModelSerializer):
    version = RuleVersionSerializer(read_only=True)

    class Meta:
        model = Rule
        fields = ["id", "name", "description", "template_key", "status", "next_run_at", "version", "created_at"]


class RuleStatsSerializer(serializers.Serializer):
    reached = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    coupons_issued = serializers.IntegerField()
    coupons_redeemed = serializers.IntegerField()
    sales = serializers.DecimalField(max_digits=14, decimal_places=2)


class DryRunSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    kind = serializers.CharField()
    sample = serializers.ListField(child=serializers.DictField())


class StepSerializer(serializers.ModelSerializer):
    member_id = serializers.IntegerField(source="run.member_id")
    version = serializers.IntegerField(source="run.version.number")

    class Meta:
        model = Step
        fields = [
            "id",
            "member_id",
            "version",
            "path",
            "action_type",
            "status",
            "attempts",
            "due_at",
            "last_error",
            "result",
            "created_at",
            "finished_at",
        ]


class RetryInput(StrictSerializer):
    step_id = CountField(required=False, min_value=1, allow_null=True, default=None)


class CampaignInput(StrictSerializer):
    name = TextField(max_length=100, required=False, allow_blank=True, default="")
    segment_id = CountField(min_value=1)
    actions = serializers.JSONField()
    holdout_percent = CountField(required=False, min_value=0, max_value=50, default=0)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CampaignPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    reached = serializers.IntegerField()
    held_out = serializers.IntegerField()
    cost = serializers.DictField(child=serializers.IntegerField())
    sample = serializers.ListField(child=serializers.DictField())


class CampaignSerializer(serializers.ModelSerializer):
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "segment_id",
            "status",
            "holdout_percent",
            "scheduled_at",
            "launched_at",
            "reached",
            "held_out",
            "actions",
            "created_at",
        ]

    def get_actions(self, campaign: Campaign) -> Any:
        return campaign.rule.version.actions if campaign.rule.version else []


class TaskTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskType
        fields = ["id", "key", "name", "states", "transitions", "default_due_hours"]


class TaskTypeInput(StrictSerializer):
    name = TextField(max_length=100)
    states = serializers.JSONField()
    transitions = serializers.JSONField()
    default_due_hours = CountField(required=False, min_value=1, max_value=24 * 365, default=48)


class TaskCommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.display_name", default="", read_only=True)

    class Meta:
        model = TaskComment
        fields = ["id", "author", "body", "from_state", "to_state", "created_at"]


class TaskSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="type.key")

    class Meta:
        model = Task
        fields = [
            "id",
            "type",
            "title",
            "description",
            "member_id",
            "store_id",
            "assignee_id",
            "assignee_role",
            "state",
            "closed",
            "outcome",
            "due_at",
            "escalated_at",
            "created_at",
            "closed_at",
        ]


class TaskInput(StrictSerializer):
    type_id = CountField(min_value=1)
    title = TextField(max_length=200)
    description = TextField(required=False, allow_blank=True, max_length=4000, default="")
    member_id = CountField(required=False, min_value=1, allow_null=True, default=None)
    assignee_id = CountField(required=False, min_value=1, allow_null=True, default=None)
    role = TextField(required=False, allow_blank=True, max_length=20, default="")
    store_id = CountField(required=False, min_value=1, allow_null=True, default=None)
    due_hours = CountField(required=False, min_value=1, max_value=24 * 365, allow_null=True, default=None)


class TaskMoveInput(StrictSerializer):
    move = CountField(min_value=0, help_text="index of the move in the task type's transitions")
    comment = TextField(required=False, allow_blank=True, max_length=4000, default="")
    outcome = TextField(required=False, allow_blank=True, max_length=4000, default="")


class TaskCommentInput(StrictSerializer):
    body = TextField(max_length=4000)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "channel", "subject", "body", "status", "created_at", "sent_at", "read_at"]
