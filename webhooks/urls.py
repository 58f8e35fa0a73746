from rest_framework.routers import SimpleRouter

from webhooks import views

app_name = "webhooks"

router = SimpleRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhook")
router.register(
    r"webhooks/(?P<webhook_id>[0-9]+)/deliveries",
    views.WebhookDeliveryViewSet,
    basename="webhook-delivery",
)

urlpatterns = router.urls
