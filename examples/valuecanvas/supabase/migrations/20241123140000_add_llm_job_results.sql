-- Results of queued LLM jobs (POST /api/queue/llm), written by the llm-worker processes.
CREATE TABLE IF NOT EXISTS llm_job_results (
  job_id text PRIMARY KEY,
  user_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  type text NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'active', 'completed', 'failed')),
  result jsonb,
  error text,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);

CREATE INDEX IF NOT EXISTS llm_job_results_user_idx ON llm_job_results (user_id, created_at DESC);

ALTER TABLE llm_job_results ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can view own job results" ON llm_job_results
  FOR SELECT USING (auth.uid() = user_id);
