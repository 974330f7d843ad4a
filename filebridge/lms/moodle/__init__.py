"""A Moodle site as an LMS target: users over Moodle's REST web services."""

from filebridge.lms.moodle.store import MoodleLms
from filebridge.lms.moodle.target import MoodleTarget, target_from_config

__all__ = ["MoodleLms", "MoodleTarget", "target_from_config"]
