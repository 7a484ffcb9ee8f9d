"""SQLAlchemy 2 async adapter: MySQL/MariaDB (aiomysql) in production, SQLite (aiosqlite) embedded."""
