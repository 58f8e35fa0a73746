from rest_framework.routers import SimpleRouter

from comments import views

app_name = "comments"

router = SimpleRouter()
router.register(r"tasks/(?P<task_id>[0-9]+)/comments", views.TaskCommentViewSet, "task-comment")
router.register("comments", views.CommentViewSet, basename="comment")

urlpatterns = router.urls
