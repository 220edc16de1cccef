"""Events: the seven seed topics, their payloads, CloudEvents attributes and the outbox."""

from millrace.events.outbox import add_event
from millrace.events.topics import TOPICS, CloudEvent, Topic

__all__ = ["TOPICS", "CloudEvent", "Topic", "add_event"]
