-- CreateEnum
CREATE TYPE "Role" AS ENUM ('USER', 'EDITOR', 'ADMIN');

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "role" "Role" NOT NULL DEFAULT 'USER';

-- Hand-added backfill: the editors of the old CMS (names like « Zoë », 佐藤, 🦊-team) become EDITOR.
UPDATE "User" SET "role" = 'EDITOR' WHERE "email" LIKE '%@editors.example.com';
