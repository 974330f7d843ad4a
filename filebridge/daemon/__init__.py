"""The daemon: scheduled and watched runs of every connection, status and notifications.

``Daemon`` (runner) runs the tasks of ``schedules/*.yaml`` (schedule) through the task
table (tasks), one per connection at a time; ``status`` reads what it left in the
ledger; ``notify`` sends e-mail and webhook notifications; ``logs`` sets up logging.
"""

from filebridge.daemon.runner import Daemon
from filebridge.daemon.schedule import ConnectionSchedule, TaskSchedule, load_schedules
from filebridge.daemon.status import status

__all__ = ["ConnectionSchedule", "Daemon", "TaskSchedule", "load_schedules", "status"]
