"""The automation API: rules (templates, versions, dry run, runs log, retry), campaigns on segments,
staff tasks and their flows, and members' inbox messages for the merchant's app."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.members.selectors import member_access_by_id
from huiyuan.platform.api.base import TenantAPIView, query_choice
from huiyuan.platform.api.inputs import validated
from huiyuan.platform.api.pagination import paginated
from huiyuan.platform.api.views import paginate
from huiyuan.platform.idempotency import idempotent

from .. import campaigns, gallery, rules, selectors, workflow
from ..models import Step
from .serializers import (
    CampaignInput,
    CampaignPreviewSerializer,
    CampaignSerializer,
    DryRunSerializer,
    MessageSerializer,
    RetryInput,
    RuleInput,
    RuleSerializer,
    RuleSpecInput,
    RuleStatsSerializer,
    RuleStatusInput,
    StepSerializer,
    TaskCommentInput,
    TaskCommentSerializer,
    TaskInput,
    TaskMoveInput,
    TaskSerializer,
    TaskTypeInput,
    TaskTypeSerializer,
    TemplateInstallInput,
)


class RuleListView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(operation_id="v1_automation_rules_list", responses=RuleSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(RuleSerializer(rules.rule_list(actor=request.user), many=True).data)

    @extend_schema(request=RuleInput, responses={201: RuleSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        rule = rules.rule_save(actor=request.user, **validated(RuleInput, request.data))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(responses=RuleSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleSerializer(rules.rule_get(actor=request.user, rule_id=rule_id)).data)

    @extend_schema(
        request=RuleInput, responses=RuleSerializer, description="A new version; runs under way keep theirs."
    )
    def put(self, request: Request, rule_id: int) -> Response:
        data = validated(RuleInput, request.data)
        return Response(RuleSerializer(rules.rule_save(actor=request.user, rule_id=rule_id, **data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, rule_id: int) -> Response:
        rules.rule_delete(actor=request.user, rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleStatusView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(request=RuleStatusInput, responses=RuleSerializer)
    def post(self, request: Request, rule_id: int) -> Response:
        data = validated(RuleStatusInput, request.data)
        return Response(RuleSerializer(rules.rule_set_status(actor=request.user, rule_id=rule_id, **data)).data)


class RuleStatsView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(responses=RuleStatsSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(
            RuleStatsSerializer(selectors.rule_stats(rules.rule_get(actor=request.user, rule_id=rule_id))).data
        )


class RuleStepsView(TenantAPIView):
    """The runs log: each action for each member, newest first."""

    operation = "automation.rule.manage"

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(Step.Status.values))],
        responses=paginated(StepSerializer),
    )
    def get(self, request: Request, rule_id: int) -> Response:
        rules.rule_get(actor=request.user, rule_id=rule_id)
        wanted = query_choice(request, "status", tuple(Step.Status.values)) or ""
        return paginate(
            self, request, selectors.rule_steps(actor=request.user, rule_id=rule_id, status=wanted), StepSerializer
        )


class RuleRetryView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(
        request=RetryInput, responses={200: {"type": "object", "properties": {"queued": {"type": "integer"}}}}
    )
    def post(self, request: Request, rule_id: int) -> Response:
        rules.rule_get(actor=request.user, rule_id=rule_id)
        data = validated(RetryInput, request.data)
        return Response({"queued": rules.step_retry(actor=request.user, rule_id=rule_id, step_id=data["step_id"])})


class RuleDryRunView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(request=RuleSpecInput, responses=DryRunSerializer)
    def post(self, request: Request) -> Response:
        return Response(
            DryRunSerializer(rules.dry_run(actor=request.user, **validated(RuleSpecInput, request.data))).data
        )


class TemplateListView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(
        responses={
            200: {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "needs_coupon": {"type": "boolean"},
                    },
                },
            }
        }
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"key": t.key, "name": str(t.name), "description": str(t.description), "needs_coupon": t.needs_coupon}
                for t in gallery.GALLERY
            ]
        )

    @extend_schema(request=TemplateInstallInput, responses={201: RuleSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        rule = gallery.template_install(actor=request.user, **validated(TemplateInstallInput, request.data))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class CampaignListView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(operation_id="v1_automation_campaigns_list", responses=CampaignSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(CampaignSerializer(campaigns.campaign_list(actor=request.user)[:200], many=True).data)

    @extend_schema(request=CampaignInput, responses={201: CampaignSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        campaign = campaigns.campaign_create(actor=request.user, **validated(CampaignInput, request.data))
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignPreviewView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(request=CampaignInput, responses=CampaignPreviewSerializer)
    def post(self, request: Request) -> Response:
        data = validated(CampaignInput, request.data)
        preview = campaigns.campaign_preview(
            actor=request.user,
            segment_id=data["segment_id"],
            actions=data["actions"],
            holdout_percent=data["holdout_percent"],
        )
        return Response(CampaignPreviewSerializer(preview).data)


class TaskTypeListView(TenantAPIView):
    operations = {"GET": "automation.task.handle", "POST": "automation.rule.manage"}

    @extend_schema(operation_id="v1_automation_task_types_list", responses=TaskTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TaskTypeSerializer(workflow.task_types_ensure(), many=True).data)

    @extend_schema(request=TaskTypeInput, responses={201: TaskTypeSerializer})
    def post(self, request: Request) -> Response:
        task_type = workflow.task_type_save(actor=request.user, **validated(TaskTypeInput, request.data))
        return Response(TaskTypeSerializer(task_type).data, status=status.HTTP_201_CREATED)


class TaskTypeDetailView(TenantAPIView):
    operation = "automation.rule.manage"

    @extend_schema(request=TaskTypeInput, responses=TaskTypeSerializer)
    def put(self, request: Request, type_id: int) -> Response:
        data = validated(TaskTypeInput, request.data)
        return Response(TaskTypeSerializer(workflow.task_type_save(actor=request.user, type_id=type_id, **data)).data)


class TaskListView(TenantAPIView):
    operation = "automation.task.handle"

    @extend_schema(
        operation_id="v1_tasks_list",
        parameters=[
            OpenApiParameter("scope", str, enum=["mine", "store", "all"]),
            OpenApiParameter("closed", bool, description="include closed tasks"),
        ],
        responses=paginated(TaskSerializer),
    )
    def get(self, request: Request) -> Response:
        scope = query_choice(request, "scope", ("mine", "store", "all")) or "mine"
        closed = query_choice(request, "closed", ("true", "false", "1", "0")) in ("true", "1")
        return paginate(
            self, request, workflow.task_list(actor=request.user, scope=scope, include_closed=closed), TaskSerializer
        )

    @extend_schema(request=TaskInput, responses={201: TaskSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        task = workflow.task_create(actor=request.user, **validated(TaskInput, request.data))
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


class TaskDetailView(TenantAPIView):
    operation = "automation.task.handle"

    @extend_schema(responses=TaskSerializer)
    def get(self, request: Request, task_id: int) -> Response:
        return Response(TaskSerializer(workflow.task_access_by_id(actor=request.user, task_id=task_id)).data)


class TaskMoveView(TenantAPIView):
    operation = "automation.task.handle"

    @extend_schema(request=TaskMoveInput, responses=TaskSerializer)
    def post(self, request: Request, task_id: int) -> Response:
        data = validated(TaskMoveInput, request.data)
        task = workflow.task_move(
            actor=request.user,
            task_id=task_id,
            move_index=data["move"],
            comment=data["comment"],
            outcome=data["outcome"],
        )
        return Response(TaskSerializer(task).data)


class TaskCommentView(TenantAPIView):
    operation = "automation.task.handle"

    @extend_schema(responses=TaskCommentSerializer(many=True))
    def get(self, request: Request, task_id: int) -> Response:
        task = workflow.task_access_by_id(actor=request.user, task_id=task_id)
        return Response(TaskCommentSerializer(task.comments.select_related("author"), many=True).data)

    @extend_schema(request=TaskCommentInput, responses={201: TaskCommentSerializer})
    def post(self, request: Request, task_id: int) -> Response:
        comment = workflow.task_comment(
            actor=request.user, task_id=task_id, **validated(TaskCommentInput, request.data)
        )
        return Response(TaskCommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class MemberMessageListView(TenantAPIView):
    """A member's inbox, for the merchant's app or mini program (an API key with member access)."""

    operation = "members.member.view"

    @extend_schema(responses=paginated(MessageSerializer))
    def get(self, request: Request, member_id: int) -> Response:
        member = member_access_by_id(actor=request.user, member_id=member_id)
        return paginate(self, request, selectors.member_messages(member.pk), MessageSerializer)
