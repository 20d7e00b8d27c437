"""Reading results back: CSV export, Pareto plots, the HTML report, model comparison."""
