from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import BaselineTask

ROWS = 20


class BaselineTaskSerializer(serializers.ModelSerializer[BaselineTask]):
    class Meta:
        model = BaselineTask
        fields = [
            "id",
            "title",
            "description",
            "priority",
            "status",
            "due_date",
            "owner_id",
            "assignee_id",
            "created_at",
            "updated_at",
            "completed_at",
            "version",
        ]


class BaselineTaskList(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    throttle_classes = []

    def get(self, request: Request) -> Response:
        rows = BaselineTask.objects.order_by("id")[:ROWS]
        return Response(BaselineTaskSerializer(rows, many=True).data)
