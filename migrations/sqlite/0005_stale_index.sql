-- The projection worker asks, after every sync, for documents whose projection is behind
-- (`proj_seq < last_seq`). The (proj_seq, last_seq) index cannot answer that comparison
-- of two columns, so each pass read every document of every organisation: a cost that
-- grew with all documents instead of the changed ones (DESIGN.md §7, growth). This partial
-- index holds only the stale documents, in the order the worker takes them.
CREATE INDEX documents_stale ON documents(last_seq) WHERE proj_seq < last_seq;
