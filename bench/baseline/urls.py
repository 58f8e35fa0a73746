from django.urls import path

from bench.baseline.views import BaselineTaskList

urlpatterns = [path("tasks/", BaselineTaskList.as_view())]
