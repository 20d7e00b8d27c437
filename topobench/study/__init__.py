"""Studies: grids of trained variants × seeds (studies.yaml), their cell files, statistics, tables and figures."""
