-- Prompt templates and their versions; exactly one active version per template.
CREATE TABLE IF NOT EXISTS prompt_templates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  key text NOT NULL UNIQUE,
  description text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS prompt_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  template_id uuid NOT NULL REFERENCES prompt_templates (id) ON DELETE CASCADE,
  version integer NOT NULL,
  template text NOT NULL,
  variables text[] NOT NULL DEFAULT '{}',
  is_active boolean NOT NULL DEFAULT false,
  created_by uuid REFERENCES auth.users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (template_id, version)
);

CREATE UNIQUE INDEX IF NOT EXISTS prompt_versions_one_active_idx
  ON prompt_versions (template_id) WHERE is_active;

ALTER TABLE prompt_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE prompt_versions ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Authenticated users can read prompt templates" ON prompt_templates
  FOR SELECT USING (auth.uid() IS NOT NULL);
CREATE POLICY "Authenticated users can read prompt versions" ON prompt_versions
  FOR SELECT USING (auth.uid() IS NOT NULL);

INSERT INTO prompt_templates (key, description)
VALUES ('canvas.generate', 'Generate a value proposition canvas from a business description')
ON CONFLICT (key) DO NOTHING;

INSERT INTO prompt_versions (template_id, version, template, variables, is_active)
SELECT id, 1,
       'Create a value proposition canvas for: {{businessDescription}} (industry: {{industry}})',
       ARRAY['businessDescription', 'industry'], true
FROM prompt_templates WHERE key = 'canvas.generate'
ON CONFLICT (template_id, version) DO NOTHING;
