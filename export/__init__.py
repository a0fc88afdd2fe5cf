"""Export a training checkpoint to the self-contained ONNX files the runtime ships. See CONTRIBUTING.md, section
Export."""
