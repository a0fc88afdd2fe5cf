"""Export a training checkpoint to the self-contained ONNX file the runtime ships. See README.md, section Export."""
