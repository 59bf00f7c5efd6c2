"""A notifier for tests: records what it was asked to send instead of sending it."""
from airflow.sdk.bases.notifier import BaseNotifier

SENT: list[str] = []


class RecordingNotifier(BaseNotifier):
    template_fields = ("message",)

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def notify(self, context):
        SENT.append(self.message)
