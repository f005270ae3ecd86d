"""简体中文页面文字。"""

MESSAGES = {
    # 页面
    "title": "AluQA",
    "description": (
        "用中文（简体/繁體）或英文询问中国铝产业的情况。"
        "回答是从一小批中文新闻文章中引用的一句原文，并注明出处；"
        "文章中没有答案时，会直接说明。"
        "追问（如 那电解铝占全国多少？ 或 广元呢？）沿用上一个问题的地点和年份。"
    ),
    "language": "语言",
    "chat_label": "AluQA",
    "placeholder": "输入问题，例如 2022年百色市铝产业总产值是多少？",
    "ask": "提问",
    "clear": "清空",
    "examples": "**示例**（点击即可提问）：",
    "comment_label": "对回答的意见（可选）",
    "comment_placeholder": "正确的句子，或哪里不对；点赞或踩时一并提交",
    "verdict_saved": "谢谢：您对“{question}”的评价已保存。",
    "verdict_withdrawn": "您对“{question}”的评价已撤回。",
    "verdict_failed": "评价未能保存：{error}",
    "verdict_no_answer": "该位置没有可评价的回答。",
    # 添加和删除文章
    "add_articles": "添加文章",
    "add_help": ("上传新闻文章：`.txt`/`.md`（UTF-8，或 GB18030/Big5）、保存的网页（`.html`）、带文字层的 PDF 或 Word 文件（`.docx`），每个不超过 {mb} MB。"
                 "文章会加入语料库并重建索引，随后即可提问。"),
    "upload_button": "上传文章（.txt、.md、.html、.pdf、.docx）",
    "articles_in_index": "索引中的文章",
    "remove_choice": "要删除的文章",
    "remove_button": "删除…",
    "remove_confirm": "从语料库中删除 {doc}？删除后不再被引用，文件也会被删除。",
    "remove_yes": "确认删除",
    "remove_cancel": "取消",
    "remove_pick_first": "请先选择要删除的文章。",
    "removed": "已删除，不再引用：{docs}。",
    "remove_refused": "未删除——{message}。",
    "remove_failed": "索引未能重建，因此没有删除任何文章：{error}",
    "added": "已添加并建立索引：{docs}。现在就可以提问。",
    "already_present": "语料库中已有——{message}",
    "refused": "已拒绝——{message}。该文件未写入。",
    "no_file": "没有选择文件。",
    "add_failed": "索引未能重建，因此没有添加任何文章：{error}",
    "list_unavailable": "无法显示文章列表：{error}",
    "no_articles": "索引中没有文章。",
    "article_count": "索引中共有 {count} 篇文章。",
    "col_title": "标题",
    "col_source": "来源",
    "col_date": "日期",
    "col_sentences": "句数",
    "col_file": "文件",
    # 回答
    "not_found": "语料库中没有这个问题的答案。",
    "closest": "最接近的内容（不是答案）",
    "sources": "出处",
    "passages": "{count} 段",
    "score": "得分",
    "note": "注：{note}",
    "understood_as": "理解为：{question}",
    "unexpected": "抱歉，回答时出错了；详情见服务器日志。",
    "index_error": "索引无法使用：{error}",
    "error_empty": "问题是空的：请输入问题，例如 {example}",
    "error_no_words": "问题中没有可搜索的词：请用中文或英文提问。",
    "error_only_number": "问题只有一个数字（{number}）：请说明想了解它的什么，例如 {example}",
    "note_cut": "问题只保留了前 {count} 个字符",
    "note_other_script": "AluQA 只读中文或英文问题，文章是中文的；这个问题用的是其他文字",
}
