"""繁體中文頁面文字。"""

MESSAGES = {
    # 頁面
    "title": "AluQA",
    "description": (
        "用中文（简体/繁體）或英文詢問中國鋁產業的情況。"
        "回答是從一小批中文新聞文章中引用的一句原文，並註明出處；"
        "文章中沒有答案時，會直接說明。"
        "追問（如 那电解铝占全国多少？ 或 广元呢？）沿用上一個問題的地點和年份。"
    ),
    "language": "語言",
    "chat_label": "AluQA",
    "placeholder": "輸入問題，例如 2022年百色市铝产业总产值是多少？",
    "ask": "提問",
    "clear": "清空",
    "examples": "**範例**（點選即可提問）：",
    "comment_label": "對回答的意見（選填）",
    "comment_placeholder": "正確的句子，或哪裡不對；按讚或倒讚時一併送出",
    "verdict_saved": "謝謝：您對「{question}」的評價已儲存。",
    "verdict_withdrawn": "您對「{question}」的評價已撤回。",
    "verdict_failed": "評價未能儲存：{error}",
    "verdict_no_answer": "該位置沒有可評價的回答。",
    # 新增和刪除文章
    "add_articles": "新增文章",
    "add_help": ("上傳新聞文章：`.txt`/`.md`（UTF-8，或 GB18030/Big5）、儲存的網頁（`.html`）、帶文字層的 PDF 或 Word 檔案（`.docx`），每個不超過 {mb} MB。"
                 "文章會加入語料庫並重建索引，隨後即可提問。"),
    "upload_button": "上傳文章（.txt、.md、.html、.pdf、.docx）",
    "articles_in_index": "索引中的文章",
    "remove_choice": "要刪除的文章",
    "remove_button": "刪除…",
    "remove_confirm": "從語料庫中刪除 {doc}？刪除後不再被引用，檔案也會被刪除。",
    "remove_yes": "確認刪除",
    "remove_cancel": "取消",
    "remove_pick_first": "請先選擇要刪除的文章。",
    "removed": "已刪除，不再引用：{docs}。",
    "remove_refused": "未刪除——{message}。",
    "remove_failed": "索引未能重建，因此沒有刪除任何文章：{error}",
    "added": "已新增並建立索引：{docs}。現在就可以提問。",
    "already_present": "語料庫中已有——{message}",
    "refused": "已拒絕——{message}。該檔案未寫入。",
    "no_file": "沒有選擇檔案。",
    "add_failed": "索引未能重建，因此沒有新增任何文章：{error}",
    "list_unavailable": "無法顯示文章列表：{error}",
    "no_articles": "索引中沒有文章。",
    "article_count": "索引中共有 {count} 篇文章。",
    "col_title": "標題",
    "col_source": "來源",
    "col_date": "日期",
    "col_sentences": "句數",
    "col_file": "檔案",
    # 回答
    "not_found": "語料庫中沒有這個問題的答案。",
    "closest": "最接近的內容（不是答案）",
    "sources": "出處",
    "passages": "{count} 段",
    "score": "得分",
    "note": "註：{note}",
    "understood_as": "理解為：{question}",
    "unexpected": "抱歉，回答時出錯了；詳情見伺服器日誌。",
    "index_error": "索引無法使用：{error}",
    "error_empty": "問題是空的：請輸入問題，例如 {example}",
    "error_no_words": "問題中沒有可搜尋的詞：請用中文或英文提問。",
    "error_only_number": "問題只有一個數字（{number}）：請說明想了解它的什麼，例如 {example}",
    "note_cut": "問題只保留了前 {count} 個字元",
    "note_other_script": "AluQA 只讀中文或英文問題，文章是中文的；這個問題用的是其他文字",
}
