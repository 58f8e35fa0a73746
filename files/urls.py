from rest_framework.routers import SimpleRouter

from files import views

app_name = "files"

router = SimpleRouter()
router.register("files", views.FileViewSet, basename="file")

urlpatterns = router.urls
