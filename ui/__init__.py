"""The AluQA web page: a Gradio chat over the question-answering pipeline (`ui.app`)."""
