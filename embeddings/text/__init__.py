"""Text: reading article files (`read`, `formats`), cleaning them (`clean`), splitting them into
paragraphs, passages and sentences (`split`), and the matching form and tokens that search and
answering compare (`normalize`, `tokenize`); near-duplicate articles (`duplicates`)."""
