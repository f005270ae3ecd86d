"""The corpus folder and the index kept in step with it: adding and removing articles
(`articles`), what the index holds (`catalogue`), one writer at a time (`lock`), and the build
(`build`) that `aluqa build` runs."""
