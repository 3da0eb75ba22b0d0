DROP TABLE limited_partners;
