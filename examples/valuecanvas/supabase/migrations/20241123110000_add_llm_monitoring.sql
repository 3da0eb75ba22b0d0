-- LLM usage and cost tracking: one row per provider call (Together.ai, OpenAI fallback).
CREATE TABLE IF NOT EXISTS llm_usage (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES auth.users (id) ON DELETE SET NULL,
  provider text NOT NULL CHECK (provider IN ('together', 'openai')),
  model text NOT NULL,
  prompt_tokens integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  latency_ms integer,
  cost_usd numeric(12, 6),
  cached boolean NOT NULL DEFAULT false,
  success boolean NOT NULL DEFAULT true,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS llm_usage_user_created_idx ON llm_usage (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS llm_usage_created_idx ON llm_usage (created_at DESC);

ALTER TABLE llm_usage ENABLE ROW LEVEL SECURITY;

-- Users see their own usage; the service role (BYPASSRLS on Supabase) writes it.
CREATE POLICY "Users can view own LLM usage" ON llm_usage
  FOR SELECT USING (auth.uid() = user_id);
