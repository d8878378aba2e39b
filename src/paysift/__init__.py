"""Label blocks of scraped news text as article, paywall, pricing or disclaimer."""

from .api import classify as classify
from .api import classify_many as classify_many
from .api import clean as clean
from .errors import ModelError as ModelError
from .errors import PaysiftError as PaysiftError
from .errors import TrainingDataError as TrainingDataError
from .errors import WorkerError as WorkerError
from .model import LinearModel as LinearModel
from .model import default_model as default_model
from .model import load_model as load_model
from .types import DEFAULT_LABELS as DEFAULT_LABELS
from .types import Block as Block
from .types import ItemError as ItemError

__version__ = "0.1.0"
