from rest_framework.routers import SimpleRouter

from tasks import views

app_name = "tasks"

router = SimpleRouter()
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = router.urls
