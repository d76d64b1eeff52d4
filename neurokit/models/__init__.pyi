# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .adapters import ADAPTERS as ADAPTERS
from .adapters import LEGACY_LAYOUT as LEGACY_LAYOUT
from .adapters import ArchitectureAdapter as ArchitectureAdapter
from .adapters import Family as Family
from .adapters import PromptLayout as PromptLayout
from .adapters import Scoring as Scoring
from .adapters import Verbalizer as Verbalizer
from .adapters import adapter_for as adapter_for
from .backbone import EMBEDDED_DESCRIPTION as EMBEDDED_DESCRIPTION
from .backbone import EMBEDDED_MODEL as EMBEDDED_MODEL
from .backbone import Backbone as Backbone
from .backbone import backbone_from_config as backbone_from_config
from .backbone import embedded_model_path as embedded_model_path
from .backbone import load_backbone as load_backbone
from .capture import capture_activations as capture_activations
from .capture import edit_activations as edit_activations
from .sites import NeuronSite as NeuronSite
from .sites import Stack as Stack
from .sites import parse_site_name as parse_site_name
