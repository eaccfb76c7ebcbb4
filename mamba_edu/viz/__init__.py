"""Figures: behaviour (Fig. 1) now; heatmaps (Fig. 2), curves (Fig. 3/4) and tables follow (issue #6)."""
