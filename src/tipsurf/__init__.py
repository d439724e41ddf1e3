"""tipsurf: DFT campaigns for magnetic STM/AFM tips over surfaces and adsorbates on thin films.

Data flows one way: specs -> ``structures`` -> ``engines`` -> ``workflows`` -> ``analysis``;
``cli`` sits on top.  A stage never imports a later one.
"""

__version__ = "0.1.0"

from tipsurf.errors import TipsurfError

__all__ = ["TipsurfError", "__version__"]
