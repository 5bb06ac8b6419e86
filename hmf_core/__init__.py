"""HMF Explorer's core: hierarchical matrix factorisation, its training and its interpretation.

Everything outside hmf_core (the dashboard, scripts, your own code) imports it from here:

    import hmf_core
    run = hmf_core.open_run("runs/my-run")        # a trained run, in your own ids
    run.recommend(42, k=10)
    run = hmf_core.train(ratings_frame, items=movies_frame, max_epochs=5)

Each public name is listed once in PUBLIC (name -> the module that defines it) and imported on
first use, so `import hmf_core` stays light: no torch, Lightning, pandas or streamlit until a
name that needs them is asked for.
"""

from __future__ import annotations

import importlib as _importlib

# name -> module (relative to hmf_core) that defines it; "module:attribute" where the public name
# differs from the module's own. Grouped by layer, bottom to top.
PUBLIC = {
    # common: errors, damaged files, progress steps, the folders the app may read
    "RunError": "common.errors",
    "DamagedFile": "common.files",
    "diverged_fields": "common.files",
    "QUALITY_STEP": "common.progress",
    "Report": "common.progress",
    "span": "common.progress",
    "step_of": "common.progress",
    "DATA_DIR_VARIABLE": "common.allowed",
    "child_folder": "common.allowed",
    "data_folders": "common.allowed",
    # data: reading rating and metadata files, splits, the datasets the app keeps
    "max_file_bytes": "data.textfiles",
    "RatingData": "data.ratings",
    "read_ratings": "data.ratings",
    "max_rows": "data.ratings",
    "parse_positions": "data.ratings",
    "parse_separator": "data.ratings",
    "read_metadata": "data.metadata",
    "COLUMN_TYPES": "data.column_types:TYPES",
    "apply_overrides": "data.column_types",
    "detect_types": "data.column_types",
    "column_type_table": "data.column_types",
    "SPLITS": "data.split",
    "make_split": "data.split",
    "DEMO": "data.datasets",
    "Dataset": "data.datasets",
    "Coverage": "data.datasets",
    "SplitChoice": "data.datasets",
    "app_folders": "data.datasets",
    "confine": "data.datasets",
    "coverage_message": "data.datasets",
    "default_split": "data.datasets",
    "earlier_uploads": "data.datasets",
    "metadata_coverage": "data.datasets",
    "open_dataset": "data.datasets",
    "read_error_message": "data.datasets",
    "store_uploads": "data.datasets",
    "time_histogram": "data.datasets",
    "uploads_root": "data.datasets",
    # models: the cluster-model interface every view reads, the HMF family's options
    "SIDES": "models.interface",
    "by_side": "models.interface",
    "check_side": "models.interface",
    "other_side": "models.interface",
    "grouping_word": "models.interface",
    "read_only": "models.interface",
    "WARM_STARTS": "models.hmf",
    "FAMILIES": "models.registry",
    "model_name": "models.registry",
    # training: settings, the task -> metric map, memory estimates, evaluation
    "TASKS": "training.metrics",
    "METRIC_LABELS": "training.metrics",
    "RANKING_NEGATIVES": "training.metrics",
    "lower_is_better": "training.metrics",
    "metric_names": "training.metrics",
    "monitor": "training.metrics",
    "task_metric_text": "training.metrics",
    "OPTIMIZERS": "training.settings",
    "PRESETS": "training.settings",
    "DEFAULT_PRESET": "training.settings",
    "preset_fields": "training.settings",
    "with_preset": "training.settings",
    "TrainSettings": "training.settings",
    "without_unused": "training.settings",
    "cluster_warnings": "training.settings",
    "parse_cluster_counts": "training.settings",
    "parameter_count": "training.memory",
    "training_memory_bytes": "training.memory",
    "full_ranking_table": "training.full_ranking",
    "is_full_ranking": "training.full_ranking",
    "rule_text": "training.full_ranking",
    "evaluate_checkpoint": "runs.evaluate",  # imports Lightning
    # interpret: queries of a trained model, cluster names, trust, quality, neighbours, maps
    "affinity_matrix": "interpret.queries",
    "block_order": "interpret.queries",
    "cluster_members": "interpret.queries",
    "cluster_sizes": "interpret.queries",
    "level_counts": "interpret.queries",
    "READABLE_CLUSTERS": "interpret.queries",
    "readable_level": "interpret.queries",
    "level_sizes": "interpret.queries",
    "readable_levels": "interpret.queries",
    "unpairable": "interpret.queries",
    "named_clusters": "interpret.queries",
    "cluster_tree": "interpret.queries",
    "cluster_table": "interpret.queries",
    "explain_pair": "interpret.queries",
    "hierarchy_links": "interpret.queries",
    "item_clusters_for_user_cluster": "interpret.queries",
    "links_under": "interpret.queries",
    "model_rows": "interpret.queries",
    "object_membership": "interpret.queries",
    "predict": "interpret.queries",
    "recommend_in_split": "interpret.queries",
    "user_clusters_for_item_cluster": "interpret.queries",
    "user_history": "interpret.queries",
    "rating_scale": "interpret.scale",
    "on_scale": "interpret.scale",
    "shown_prediction": "interpret.scale",
    "bias_terms": "interpret.explanation",
    "explanation_views": "interpret.explanation",
    "explain_by_view": "interpret.explanation",
    "explains_by_view": "interpret.explanation",
    "view_totals": "interpret.explanation",
    "cluster_names": "interpret.naming",
    "drawn_tree": "interpret.naming",
    "hierarchy_tree": "interpret.naming",
    "cluster_trust": "interpret.trust",
    "trust_line": "interpret.trust",
    "quality_tables": "interpret.quality",
    "best_captured": "interpret.quality",
    "REAPPEAR_JACCARD": "interpret.stability",
    "cluster_verdicts": "interpret.stability",
    "stability_summary": "interpret.stability",
    "cluster_stability": "interpret.stability_tables",
    "pair_stability": "interpret.stability_tables",
    "stability_note": "interpret.stability_tables",
    "suggest_sizes": "interpret.sizes",  # issue 17: "Suggest sizes"
    "size_flags": "interpret.sizes",
    "size_table": "interpret.sizes",
    "suggested_shape": "interpret.sizes",
    "suggestion_lines": "interpret.sizes",
    "MEASURES": "interpret.neighbours",
    "nearest_to": "interpret.neighbours",
    "vector_ties": "interpret.neighbours",
    "cluster_highlight": "interpret.projection",
    "embedding_table": "interpret.projection",
    "find_points": "interpret.projection",
    "map_names": "interpret.projection",
    "LABELS_VERSION": "interpret.projection",
    "map_metadata": "interpret.projection",
    "multi_valued_note": "interpret.quality",
    "metadata_shown": "interpret.queries",
    "column_title": "interpret.projection",
    "map_points": "interpret.projection",
    "HOVER_POINTS": "interpret.drawing",
    "hover_rows": "interpret.drawing",
    "density": "interpret.drawing",
    "points_in_region": "interpret.drawing",
    "POINT_KINDS": "interpret.projection",
    "parse_point_kind": "interpret.projection",
    "pca_map": "interpret.projection",
    "points_of": "interpret.projection",
    "joined_on_points": "interpret.projection",
    "shared_map": "interpret.projection",
    "side_offsets": "interpret.projection",
    "top_clusters_at": "interpret.projection",
    "top_clusters_of": "interpret.projection",
    # runs: run folders, the background run manager, limits, comparing runs
    "MAP_METHODS": "runs.rundir",
    "MAX_NAME": "runs.rundir",
    "MAX_NOTE": "runs.rundir",
    "RunDir": "runs.rundir",
    "diverged_rows": "runs.rundir",
    "RunStatus": "runs.manager",
    "describe": "runs.manager",
    "format_duration": "runs.manager",
    "format_metrics": "runs.manager",
    "pruning_timeline": "runs.curves",
    "loss_term_curves": "runs.curves",
    "job_running": "runs.manager",
    "list_runs": "runs.manager:runs",  # hmf_core.runs is the layer's package
    "run_note": "runs.manager",
    "run_status": "runs.manager",
    "runs_root": "runs.manager",
    "start_maps": "runs.manager",
    "start_stability": "runs.manager",
    "start_run": "runs.manager",
    "stop_run": "runs.manager",
    "RunLimits": "runs.limits",
    "folder_bytes": "runs.limits",
    "size_text": "runs.limits",
    "changed_settings": "runs.compare",
    "cluster_agreement": "runs.compare",
    "stability_job": "runs.manager",
    "compare_curves": "runs.compare",
    "compare_table": "runs.compare",
    "run_labels": "runs.compare",
    "data_labels": "runs.compare",
    "incomparable": "runs.compare",
    "sweep_trials": "runs.compare",
    "without_full_ranking": "runs.compare",
    "published_references": "runs.references",
    # api: a trained run in your own ids, and the train() function
    "Run": "api",
    "UnknownId": "api",
    "open_run": "api",
    "train": "api",
}

__all__ = list(PUBLIC)


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module 'hmf_core' has no attribute {name!r}")
    module, _, attribute = PUBLIC[name].partition(":")
    value = getattr(_importlib.import_module(f"hmf_core.{module}"), attribute or name)
    globals()[name] = value  # found once; later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
