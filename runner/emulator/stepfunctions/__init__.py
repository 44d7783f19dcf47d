"""Step Functions: what moto's interpreter lacks for this pipeline."""
