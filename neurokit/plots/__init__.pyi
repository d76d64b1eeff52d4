# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from ._inputs import PlotInputError as PlotInputError
from .agreement import prompt_consistency as prompt_consistency
from .agreement import task_overlap as task_overlap
from .commands import FIGURES as FIGURES
from .commands import draw_figures as draw_figures
from .interventions import ablation_curve as ablation_curve
from .interventions import transfer_heatmap as transfer_heatmap
from .neurons import predictivity_by_layer as predictivity_by_layer
from .neurons import skill_map as skill_map
from .robustness import clean_vs_adversarial_figure as clean_vs_adversarial_figure
from .robustness import null_comparison_figure as null_comparison_figure
from .style import DIVERGING_CMAP as DIVERGING_CMAP
from .style import FONT_SIZES as FONT_SIZES
from .style import PALETTE as PALETTE
from .style import SEQUENTIAL_CMAP as SEQUENTIAL_CMAP
from .style import Width as Width
from .style import legend_above as legend_above
from .style import new_figure as new_figure
from .style import paper_style as paper_style
from .style import save_figure as save_figure
from .style import style_rc as style_rc
