-- test_assistants.sql - the assistants.route op (scores, order, ties,
-- unknown words, bad params), metadata.assistant on the thread wire (and
-- nothing else of the stored metadata), and the `sources` filter of search.

-- assistants.route
CREATE TEMP TABLE cand AS SELECT '[{"id":"tax","texts":["Taxes, deductions and VAT","Can I deduct my home office?"]},
                                   {"id":"stats","texts":["Charts and dashboards","Plot weekly active users"]},
                                   {"id":"empty"}]'::jsonb AS c;
SELECT sqltest.is(sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'Is the office deductible?', 'candidates', c)) #> '{scores,0,id}',
                  '"tax"', 'route: deductible -> tax') FROM cand;
SELECT sqltest.is(sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'a dashboard of weekly users', 'candidates', c)) #> '{scores,0,id}',
                  '"stats"', 'route: dashboard -> stats') FROM cand;
SELECT sqltest.ok((sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'Is the office deductible?', 'candidates', c)) #>> '{scores,0,score}')::numeric
                  BETWEEN 0.01 AND 1, 'route: a score in 0..1') FROM cand;
SELECT sqltest.is(sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'zebra quantum', 'candidates', c)),
                  '{"scores":[{"id":"empty","score":0},{"id":"stats","score":0},{"id":"tax","score":0}]}',
                  'route: unknown words score 0 for all, ties by id') FROM cand;
SELECT sqltest.ok((sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'deduct zebra quantum platypus', 'candidates', c)) #>> '{scores,0,score}')::numeric
                  < (sqltest.op('assistants.route', 'u1', jsonb_build_object('text', 'deduct', 'candidates', c)) #>> '{scores,0,score}')::numeric,
                  'route: words no assistant knows lower the score') FROM cand;
SELECT sqltest.is(sqltest.op('assistants.route', 'u1', '{"text":"tax","candidates":[]}'), '{"scores":[]}', 'route: no candidates');
SELECT sqltest.op_fails('assistants.route', 'u1', '{"text":1,"candidates":[]}', '22023', 'route: text not a string -> 22023');
SELECT sqltest.op_fails('assistants.route', 'u1', '{"text":"x"}', '22023', 'route: no candidates -> 22023');

-- metadata.assistant on the wire, nothing else
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread',
       sqltest.thread('thr_as', '2025-08-01T00:00:00Z') || '{"metadata":{"assistant":"tax","secret":"x"}}'));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread',
       sqltest.thread('thr_plain', '2025-08-01T00:00:01Z') || '{"metadata":{"secret":"x"}}'));
SELECT sqltest.is(sqltest.op('threads.get_by_id', 'u1', '{"thread_id":"thr_as"}') -> 'metadata', '{"assistant":"tax"}',
                  'get_by_id shows the assistant only');
SELECT sqltest.is(sqltest.op('threads.get_by_id', 'u1', '{"thread_id":"thr_plain"}') -> 'metadata', '{}',
                  'get_by_id without an assistant: {}');
SELECT sqltest.is((SELECT jsonb_agg(t -> 'metadata' ORDER BY t ->> 'id') FROM jsonb_array_elements(sqltest.op('threads.list', 'u1', '{}') -> 'data') t),
                  '[{"assistant":"tax"},{}]', 'threads.list shows the assistant only');
SELECT sqltest.is(sqltest.op('threads.update', 'u1', '{"thread_id":"thr_as","title":"T"}') -> 'metadata', '{"assistant":"tax"}',
                  'threads.update answer shows the assistant only');

-- search with sources
SELECT chatkit.corpus_put_document('tax/vat.md', 'h1', 'VAT', '[{"title":"VAT","text":"The quarterly VAT return"}]');
SELECT chatkit.corpus_put_document('general/vat.md', 'h2', 'VAT', '[{"title":"VAT","text":"The quarterly VAT return, general"}]');
SELECT sqltest.is((SELECT jsonb_agg(r -> 'source' ORDER BY r ->> 'source') FROM jsonb_array_elements(
                   sqltest.op('search', 'u1', '{"query":"quarterly VAT","sources":["./tax/"]}') -> 'results') r),
                  '["tax/vat.md"]', 'search: sources keeps to the prefix (./ ignored)');
SELECT sqltest.is((SELECT jsonb_agg(r -> 'source' ORDER BY r ->> 'source') FROM jsonb_array_elements(
                   sqltest.op('search', 'u1', '{"query":"quarterly VAT","sources":["tax/","general/"]}') -> 'results') r),
                  '["general/vat.md", "tax/vat.md"]', 'search: several prefixes');
SELECT sqltest.is((SELECT jsonb_agg(r -> 'source' ORDER BY r ->> 'source') FROM jsonb_array_elements(
                   sqltest.op('search', 'u1', '{"query":"quarterly VAT"}') -> 'results') r),
                  '["general/vat.md", "tax/vat.md"]', 'search: no sources, every document');
SELECT sqltest.is(sqltest.op('search', 'u1', '{"query":"quarterly VAT","sources":["nowhere/"]}') -> 'results', '[]',
                  'search: a prefix matching nothing (no results; a note says why)');
SELECT sqltest.op_fails('search', 'u1', '{"query":"VAT","sources":"tax/"}', '22023', 'search: sources not an array -> 22023');
