from rest_framework.routers import SimpleRouter

from projects import views

app_name = "projects"

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("labels", views.LabelViewSet, basename="label")

urlpatterns = router.urls
