"""The Lambda functions' package: shipped as `lambda_src/` in the zip, imported as `lambda_src.*` everywhere."""
