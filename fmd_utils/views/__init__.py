"""Views: what turns the library's tensors into something to look at. Figures and PNG grids (:mod:`.figures`),
timestep players (:mod:`.players`), the generator panel (:mod:`.panel`), the page's model export (:mod:`.export`),
source listings (:mod:`.source`), the benchmark report (:mod:`.report`) and the seed project's four calls
(:mod:`.classic`). Views import the library below them; nothing below imports a view."""

from .classic import (
    create_diffusion_animation,
    generate_class_samples,
    generate_samples_grid,
    visualize_denoising_steps,
)
from .figures import (
    class_grid,
    plot_confusion,
    plot_history,
    save_class_grid,
    save_image_grid,
    scatter_by_class,
    show_images,
)
from .panel import generator_panel
from .players import offline_jshtml, timestep_player
from .source import show_source

__all__ = [
    "create_diffusion_animation", "generate_class_samples", "generate_samples_grid", "visualize_denoising_steps",
    "class_grid", "plot_confusion", "plot_history", "save_class_grid", "save_image_grid", "scatter_by_class",
    "show_images", "generator_panel", "offline_jshtml", "timestep_player", "show_source",
]
