DROP VIEW shop.product_stock;
