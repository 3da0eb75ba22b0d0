-- Feature flags with percentage rollouts. rollout_percentage stays NULL until someone sets the
-- initial rollout ("Configure initial rollout percentages").
CREATE TABLE IF NOT EXISTS feature_flags (
  key text PRIMARY KEY,
  description text,
  enabled boolean NOT NULL DEFAULT false,
  rollout_percentage integer CHECK (rollout_percentage BETWEEN 0 AND 100),
  target_users uuid[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE feature_flags ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Anyone authenticated can read feature flags" ON feature_flags
  FOR SELECT USING (auth.uid() IS NOT NULL);

INSERT INTO feature_flags (key, description, enabled)
VALUES
  ('llm-cache', 'Serve repeated LLM prompts from the Redis cache', true),
  ('llm-openai-fallback', 'Fall back to OpenAI when the Together.ai circuit opens', true),
  ('new-feature', 'Canvas refinement with the new prompt chain', false)
ON CONFLICT (key) DO NOTHING;
